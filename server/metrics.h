// Copyright (c) Quiver authors.
//
// /metrics: Prometheus text exposition format (version 0.0.4).
//
// HTTP layer (kept here):
//   quiver_http_requests_total{method,route,status}            counter
//   quiver_http_request_duration_seconds{method,route}         histogram
//   quiver_checkpoint_duration_seconds                         histogram (explicit checkpoints)
// Store (read from Collection::Stats at scrape time), labelled {collection}:
//   quiver_collection_records, _index_vectors, _index_memory_bytes, _applied_seq,
//   _change_log_length, _checkpoint_generation, _checkpoint_bytes,
//   _last_checkpoint_duration_seconds, _latched (1 = read-only after an I/O error)
//
// Limits and budgets (docs/http-api.md, "Limits and budgets"):
//   quiver_http_open_connections                               gauge
//   quiver_http_transport_events_total{event}                  counter
//   quiver_http_budget_exceeded_total{limit}                   counter
//
// Every label takes its values from a fixed set, so no client can grow this
// text: `route` is the route's path template ("/v2/collections/{name}"),
// never the raw path, and "unmatched" for requests that matched no route;
// `method` is one of kMethodLabels (any other method is counted as "other");
// `status` is a status the server sends; `event` and `limit` are enums.

#ifndef QUIVER_SERVER_METRICS_H_
#define QUIVER_SERVER_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>

#include "quiver/store.h"
#include "server/transport.h"

namespace quiver::server {

/// A fixed-bucket histogram of durations in seconds. Not thread-safe by itself.
class Histogram {
 public:
  /// Upper bounds of the buckets, seconds (the +Inf bucket is implicit).
  static constexpr std::array<double, 14> kBounds = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  void Observe(double seconds);
  /// Appends the _bucket, _sum and _count lines of `name` with `labels`
  /// (e.g. R"(method="GET",route="/healthz")", may be empty).
  void Render(std::string_view name, std::string_view labels, std::string* out) const;

 private:
  std::array<std::uint64_t, kBounds.size()> buckets_{};  // non-cumulative
  std::uint64_t count_ = 0;
  double sum_ = 0;
};

/// The values the `method` label takes; any other method is "other".
inline constexpr std::array<std::string_view, 9> kMethodLabels = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT"};

/// `method` itself if it is one of kMethodLabels, else "other".
std::string_view MethodLabel(std::string_view method);

/// A limit of server/budget.h that stopped a request (the `limit` label).
enum class BudgetLimit {
  kSearchWork,      // queries x max(k, expansion_search) over --max-search-work
  kDeadline,        // the request ran past --request-timeout
  kClientGone,      // the client disconnected while its request ran
  kResponseBytes,   // the response would exceed --max-response-bytes
  kRecordText,      // a record's text over --max-text-bytes (at write)
  kRecordMetadata,  // a record's metadata over --max-metadata-bytes (at write)
};
inline constexpr std::size_t kBudgetLimitCount = 6;

/// The server's metrics. Thread-safe: Observe* and Render may run concurrently.
class Metrics {
 public:
  /// Records one response.
  void ObserveRequest(std::string_view method, std::string_view route, int status, double seconds);
  /// Records the duration of a checkpoint a client asked for.
  void ObserveCheckpoint(double seconds);
  /// Counts a connection the transport answered or closed itself.
  void CountTransportEvent(TransportEvent event);
  /// Counts a request stopped by a limit.
  void CountBudgetHit(BudgetLimit limit);
  /// Where the open-connections gauge is read at scrape time (unset: not rendered).
  void SetOpenConnectionsSource(std::function<int()> source);

  /// The exposition text: the HTTP metrics, then the gauges of every
  /// collection of `store` (skipped when `store` is null, i.e. not open yet).
  /// A collection whose Stats() fails is left out.
  std::string Render(Store* store) const;

 private:
  mutable std::mutex mutex_;
  std::map<std::tuple<std::string, std::string, int>, std::uint64_t> requests_;  // guarded
  std::map<std::pair<std::string, std::string>, Histogram> latency_;             // guarded
  Histogram checkpoint_latency_;                                                 // guarded
  std::function<int()> open_connections_;                                        // guarded
  std::array<std::atomic<std::uint64_t>, 7> transport_events_{};
  std::array<std::atomic<std::uint64_t>, kBudgetLimitCount> budget_hits_{};
};

/// Escapes a Prometheus label value (backslash, double quote, newline).
std::string EscapeLabelValue(std::string_view value);

}  // namespace quiver::server

#endif  // QUIVER_SERVER_METRICS_H_
