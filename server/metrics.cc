// Copyright (c) Quiver authors.

#include "server/metrics.h"

#include <iterator>
#include <memory>
#include <vector>

#include <fmt/format.h>

namespace quiver::server {
namespace {

void AppendHelp(std::string* out, std::string_view name, std::string_view type,
                std::string_view help) {
  fmt::format_to(std::back_inserter(*out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

// One gauge of every collection: name, help, and how to read it from the stats.
struct CollectionGauge {
  const char* name;
  const char* help;
  double (*value)(const CollectionStats&);
};

const CollectionGauge kCollectionGauges[] = {
    {"quiver_collection_records", "Live records in SQLite.",
     [](const CollectionStats& s) { return static_cast<double>(s.records); }},
    {"quiver_collection_index_vectors", "Live vectors in the in-memory index.",
     [](const CollectionStats& s) { return static_cast<double>(s.index_vectors); }},
    {"quiver_collection_index_memory_bytes", "Bytes the index uses in memory.",
     [](const CollectionStats& s) { return static_cast<double>(s.index_memory_bytes); }},
    {"quiver_collection_applied_seq", "Highest change sequence number applied to the index.",
     [](const CollectionStats& s) { return static_cast<double>(s.applied_seq); }},
    {"quiver_collection_change_log_length", "Change-log entries not yet covered by a checkpoint.",
     [](const CollectionStats& s) { return static_cast<double>(s.change_log_length); }},
    {"quiver_collection_checkpoint_generation", "Generation of the current checkpoint (0 = none).",
     [](const CollectionStats& s) { return static_cast<double>(s.checkpoint_generation); }},
    {"quiver_collection_checkpoint_bytes", "Size of the current checkpoint file.",
     [](const CollectionStats& s) { return static_cast<double>(s.checkpoint_bytes); }},
    {"quiver_collection_last_checkpoint_duration_seconds",
     "Duration of the last checkpoint written by this process (0 = none).",
     [](const CollectionStats& s) { return s.last_checkpoint_ms / 1000.0; }},
    {"quiver_collection_unreachable_vectors",
     "Live vectors the last HNSW graph walk did not reach (no search can return them).",
     [](const CollectionStats& s) { return static_cast<double>(s.unreachable_vectors); }},
    {"quiver_collection_latched", "1 if the collection is read-only after a failed write.",
     [](const CollectionStats& s) { return s.fatal_error.empty() ? 0.0 : 1.0; }},
};

constexpr std::array<std::string_view, 7> kTransportEventLabels = {
    "refused_per_address", "header_timeout",    "body_timeout", "write_timeout",
    "uri_too_long",        "headers_too_large", "bad_framing"};

constexpr std::array<std::string_view, kBudgetLimitCount> kBudgetLimitLabels = {
    "search_work", "deadline", "client_gone", "response_bytes", "record_text", "record_metadata"};

}  // namespace

std::string_view MethodLabel(std::string_view method) {
  for (const std::string_view known : kMethodLabels) {
    if (method == known) return known;
  }
  return "other";
}

void Histogram::Observe(double seconds) {
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    if (seconds <= kBounds[i]) {
      ++buckets_[i];
      break;
    }
  }
  ++count_;
  sum_ += seconds;
}

void Histogram::Render(std::string_view name, std::string_view labels, std::string* out) const {
  auto it = std::back_inserter(*out);
  const std::string_view separator = labels.empty() ? "" : ",";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < kBounds.size(); ++i) {
    cumulative += buckets_[i];
    fmt::format_to(it, "{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, separator, kBounds[i],
                   cumulative);
  }
  fmt::format_to(it, "{}_bucket{{{}{}le=\"+Inf\"}} {}\n", name, labels, separator, count_);
  const std::string braces = labels.empty() ? "" : fmt::format("{{{}}}", labels);
  fmt::format_to(it, "{}_sum{} {}\n{}_count{} {}\n", name, braces, sum_, name, braces, count_);
}

void Metrics::ObserveRequest(std::string_view method, std::string_view route, int status,
                             double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string_view label = MethodLabel(method);
  ++requests_[{std::string(label), std::string(route), status}];
  latency_[{std::string(label), std::string(route)}].Observe(seconds);
}

void Metrics::ObserveCheckpoint(double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  checkpoint_latency_.Observe(seconds);
}

void Metrics::CountTransportEvent(TransportEvent event) {
  transport_events_[static_cast<std::size_t>(event)].fetch_add(1, std::memory_order_relaxed);
}

void Metrics::CountBudgetHit(BudgetLimit limit) {
  budget_hits_[static_cast<std::size_t>(limit)].fetch_add(1, std::memory_order_relaxed);
}

void Metrics::SetOpenConnectionsSource(std::function<int()> source) {
  std::lock_guard<std::mutex> lock(mutex_);
  open_connections_ = std::move(source);
}

std::string Metrics::Render(Store* store) const {
  std::string out;
  auto it = std::back_inserter(out);
  AppendHelp(&out, "quiver_http_transport_events_total", "counter",
             "Connections the transport answered (408, 414, 431, 400) or closed by itself.");
  for (std::size_t i = 0; i < kTransportEventLabels.size(); ++i) {
    fmt::format_to(it, "quiver_http_transport_events_total{{event=\"{}\"}} {}\n",
                   kTransportEventLabels[i], transport_events_[i].load());
  }
  AppendHelp(&out, "quiver_http_budget_exceeded_total", "counter",
             "Requests stopped by a per-request limit.");
  for (std::size_t i = 0; i < kBudgetLimitLabels.size(); ++i) {
    fmt::format_to(it, "quiver_http_budget_exceeded_total{{limit=\"{}\"}} {}\n",
                   kBudgetLimitLabels[i], budget_hits_[i].load());
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (open_connections_) {
      AppendHelp(&out, "quiver_http_open_connections", "gauge", "Client connections open now.");
      fmt::format_to(it, "quiver_http_open_connections {}\n", open_connections_());
    }
    AppendHelp(&out, "quiver_http_requests_total", "counter",
               "HTTP responses by route and status.");
    for (const auto& [key, count] : requests_) {
      const auto& [method, route, status] = key;
      fmt::format_to(it,
                     "quiver_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{}\"}} {}\n",
                     EscapeLabelValue(method), EscapeLabelValue(route), status, count);
    }
    AppendHelp(&out, "quiver_http_request_duration_seconds", "histogram",
               "Time from routing a request to its response being ready.");
    for (const auto& [key, histogram] : latency_) {
      histogram.Render("quiver_http_request_duration_seconds",
                       fmt::format("method=\"{}\",route=\"{}\"", EscapeLabelValue(key.first),
                                   EscapeLabelValue(key.second)),
                       &out);
    }
    AppendHelp(&out, "quiver_checkpoint_duration_seconds", "histogram",
               "Duration of checkpoints requested over HTTP.");
    checkpoint_latency_.Render("quiver_checkpoint_duration_seconds", "", &out);
  }
  if (store == nullptr) return out;

  Result<std::vector<CollectionInfo>> infos = store->ListCollections();
  if (!infos.ok()) return out;
  std::vector<CollectionStats> all_stats;
  std::size_t quarantined = 0;
  for (const CollectionInfo& info : *infos) {
    if (!info.damage.empty()) {
      ++quarantined;
      continue;
    }
    Result<std::shared_ptr<Collection>> collection = store->GetCollection(info.name);
    if (!collection.ok()) continue;  // dropped meanwhile
    Result<CollectionStats> stats = (*collection)->Stats();
    if (stats.ok()) all_stats.push_back(std::move(*stats));
  }
  AppendHelp(&out, "quiver_collections_quarantined", "gauge",
             "Collections quarantined at open (damaged; not served; see GET /v2/collections).");
  fmt::format_to(it, "quiver_collections_quarantined {}\n", quarantined);
  for (const CollectionGauge& gauge : kCollectionGauges) {
    AppendHelp(&out, gauge.name, "gauge", gauge.help);
    for (const CollectionStats& stats : all_stats) {
      fmt::format_to(it, "{}{{collection=\"{}\"}} {}\n", gauge.name, EscapeLabelValue(stats.name),
                     gauge.value(stats));
    }
  }
  return out;
}

std::string EscapeLabelValue(std::string_view value) {
  std::string escaped;
  escaped.reserve(value.size());
  for (const char c : value) {
    switch (c) {
      case '\\':
        escaped += "\\\\";
        break;
      case '"':
        escaped += "\\\"";
        break;
      case '\n':
        escaped += "\\n";
        break;
      default:
        escaped += c;
    }
  }
  return escaped;
}

}  // namespace quiver::server
