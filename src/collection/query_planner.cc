// Copyright (c) Quiver authors.
//
// The query planner of filtered search, and the other reads and writes by
// filter (Count, Scan, DeleteWhere) and field indexes. Part of CollectionImpl.
//
// A filtered search must return the k nearest *matching* records at every
// selectivity. Two strategies, chosen per call from the number of matching
// records M out of N (the filter is evaluated once, in SQLite: an index
// lookup when its fields are indexed, else one pass over the records):
//
//   exact          distances from the query to each of the M matching
//                  records' indexed vectors (HnswIndex::ScoreKeys), top k.
//                  Recall 1.0; cost ~M distances per query.
//   filtered-hnsw  USearch's filtered search: the walk goes through
//                  non-matching nodes but ranks only matching ones, until it
//                  holds `expansion` matching candidates. Cost grows like
//                  W / s distances, where s = M / N and W is the work of an
//                  unfiltered search (~expansion x 2M distances).
//
// Cost model: exact when M <= sqrt(kExactBias * W * N), i.e. when M
// distances cost less than W / s. With the defaults (ef 64, M 16) that is
// about 11,000 matches at N = 60,000 (s = 18%) and 45,000 at N = 1,000,000
// (s = 4.5%). kExactBias was measured on Fashion-MNIST (docs/filters.md,
// bench/filter_bench.cc). The filtered expansion is raised as s falls
// (ExpansionFor), and a filtered search that returns fewer than
// min(k, M) matches falls back to exact for that query: a search never
// returns fewer than k results while k records match.

#include <algorithm>
#include <bit>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <unordered_set>

#include "collection/collection_impl.h"
#include "filter/filter.h"
#include "storage/filter_sql.h"
#include "util/logging.h"
#include "util/status_macros.h"

namespace quiver {
namespace {

/// Exact search pays for itself below M = sqrt(kExactBias * W * N).
constexpr double kExactBias = 1.0;
/// Largest oversampling factor of a re-rank.
constexpr std::size_t kMaxRerankOversample = 100;
/// Cursors of Scan: "k" + the decimal of the last key's int64 form.
constexpr char kCursorPrefix = 'k';
/// The first character of an insertion-order cursor.
constexpr char kInsertionCursorPrefix = 'i';

/// The expansion of a filtered HNSW search at selectivity s: the base ef,
/// grown with log2(1/s) so that a walk whose candidates are mostly rejected
/// still ranks enough matching ones (1x at s = 1, 2x at 1/16, 3x at 1/256).
std::size_t ExpansionFor(std::size_t ef, double selectivity) {
  const double grow = 1.0 + std::max(0.0, std::log2(1.0 / std::max(selectivity, 1e-9))) / 4.0;
  return static_cast<std::size_t>(std::ceil(static_cast<double>(ef) * grow));
}

/// Keeps the k smallest distances, sorted ascending (ties by key, for a
/// deterministic order).
void KeepTopK(std::vector<Match>* matches, std::size_t k) {
  auto closer = [](const Match& a, const Match& b) {
    return a.distance != b.distance ? a.distance < b.distance : a.key < b.key;
  };
  if (matches->size() > k) {
    std::partial_sort(matches->begin(), matches->begin() + static_cast<std::ptrdiff_t>(k),
                      matches->end(), closer);
    matches->resize(k);
  } else {
    std::sort(matches->begin(), matches->end(), closer);
  }
}

Result<filter::Node> ParseFilter(const std::string& text) { return filter::Parse(text, "where"); }

}  // namespace

// --- SearchPlan (include/quiver/record.h) ----------------------------------------

const char* SearchPlan::StrategyName(Strategy strategy) {
  switch (strategy) {
    case Strategy::kHnsw:
      return "hnsw";
    case Strategy::kFilteredHnsw:
      return "filtered-hnsw";
    case Strategy::kExact:
      return "exact";
    case Strategy::kAuto:
      return "auto";
  }
  return "?";
}

std::string SearchPlan::ToString() const {
  std::string line = StrategyName(strategy);
  line += ": " + std::to_string(matching) + " of " + std::to_string(total) + " records match";
  if (total > 0) {
    char percent[32];
    std::snprintf(percent, sizeof(percent), " (%.3g%%)",
                  100.0 * static_cast<double>(matching) / static_cast<double>(total));
    line += percent;
  }
  if (strategy != Strategy::kExact) line += ", expansion " + std::to_string(expansion);
  if (rerank_candidates > 0) {
    line += ", re-rank " + std::to_string(rerank_candidates) + " candidates with float32";
  }
  char ms[32];
  std::snprintf(ms, sizeof(ms), "; planned in %.2f ms", plan_ms);
  return line + ms;
}

// --- Planning and execution ------------------------------------------------------------

Result<CollectionImpl::PlannedSearch> CollectionImpl::PlanSearch(const SearchOptions& options,
                                                                 const index::HnswIndex& index) {
  const auto start = std::chrono::steady_clock::now();
  if (std::isnan(options.max_distance)) {
    return Status::InvalidArgument("max_distance: is NaN; expected a number (or +infinity)");
  }
  if (options.rerank &&
      (options.rerank_oversample == 0 || options.rerank_oversample > kMaxRerankOversample)) {
    return Status::InvalidArgument(
        "rerank_oversample: " + std::to_string(options.rerank_oversample) + "; expected 1.." +
        std::to_string(kMaxRerankOversample));
  }
  QUIVER_ASSIGN_OR_RETURN(filter::Node node, ParseFilter(options.filter));
  if (options.strategy == SearchStrategy::kHnsw && !filter::MatchesAll(node)) {
    return Status::InvalidArgument(
        "strategy: hnsw cannot apply a filter; expected auto, exact or filtered-hnsw");
  }
  const CollectionConfig cfg = config();
  PlannedSearch planned;
  SearchPlan& plan = planned.plan;
  plan.total = index.size();
  const std::size_t ef = std::max<std::size_t>(
      options.expansion_search == 0 ? cfg.expansion_search : options.expansion_search, options.k);
  plan.expansion = ef;
  plan.rerank_candidates = options.rerank ? options.k * options.rerank_oversample : 0;
  const bool forced = options.strategy == SearchStrategy::kExact ||
                      options.strategy == SearchStrategy::kFilteredHnsw;
  if (filter::MatchesAll(node) && !forced) {
    plan.strategy = SearchPlan::Strategy::kHnsw;
    plan.matching = plan.total;
  } else {
    planned.filtered = true;
    QUIVER_ASSIGN_OR_RETURN(planned.keys,
                            context_.db->SelectKeys(entry_.id, storage::CompileFilter(node)));
    plan.matching = planned.keys.size();
    const double total = static_cast<double>(std::max<std::uint64_t>(plan.total, 1));
    const double work = static_cast<double>(ef) * 2.0 * cfg.connectivity;
    const double matching = static_cast<double>(plan.matching);
    const bool exact = options.strategy == SearchStrategy::kAuto
                           ? matching * matching <= kExactBias * work * total
                           : options.strategy == SearchStrategy::kExact;
    if (exact) {
      plan.strategy = SearchPlan::Strategy::kExact;
      plan.expansion = 0;
    } else {
      plan.strategy = SearchPlan::Strategy::kFilteredHnsw;
      plan.expansion = ExpansionFor(ef, matching / total);
    }
  }
  plan.plan_ms = MillisSince(start);
  return planned;
}

Result<SearchPlan> CollectionImpl::Explain(const SearchOptions& options) {
  QUIVER_RETURN_IF_ERROR(CheckUsable(/*write=*/false));
  if (options.k == 0 || options.k > kMaxSearchK) {
    return Status::InvalidArgument("k: " + std::to_string(options.k) + "; expected 1.." +
                                   std::to_string(kMaxSearchK));
  }
  const auto index = this->index();
  QUIVER_ASSIGN_OR_RETURN(PlannedSearch planned, PlanSearch(options, *index));
  return planned.plan;
}

Result<std::vector<std::vector<Match>>> CollectionImpl::SearchPlanned(
    const float* queries, std::size_t num_queries, const SearchOptions& options) {
  const auto index = this->index();
  QUIVER_ASSIGN_OR_RETURN(PlannedSearch planned, PlanSearch(options, *index));
  const SearchPlan& plan = planned.plan;
  const std::size_t dims = dimensions_;
  const std::size_t k = options.k;
  // Candidates per query: k, or k * oversample to re-rank.
  const std::size_t wanted = plan.rerank_candidates > 0 ? plan.rerank_candidates : k;
  std::unordered_set<Key> allowed;
  if (plan.strategy == SearchPlan::Strategy::kFilteredHnsw) {
    allowed.reserve(planned.keys.size());
    allowed.insert(planned.keys.begin(), planned.keys.end());
  }
  const std::function<bool(Key)> allow = [&allowed](Key key) { return allowed.count(key) != 0; };

  std::vector<std::vector<Match>> results(num_queries);
  for (std::size_t q = 0; q < num_queries; ++q) {
    const float* query = queries + q * dims;
    std::vector<Match>& out = results[q];
    switch (plan.strategy) {
      case SearchPlan::Strategy::kAuto:  // PlanSearch never leaves kAuto
      case SearchPlan::Strategy::kHnsw:
        QUIVER_RETURN_IF_ERROR(index->Search(query, wanted, options.expansion_search, &out));
        break;
      case SearchPlan::Strategy::kFilteredHnsw:
        QUIVER_RETURN_IF_ERROR(
            index->FilteredSearch(query, wanted, std::max(plan.expansion, wanted), allow, &out));
        // Never fewer than k while k records match: when the walk could not
        // collect enough matching candidates, rank every matching record.
        if (out.size() >= std::min<std::size_t>(wanted, planned.keys.size())) break;
        [[fallthrough]];
      case SearchPlan::Strategy::kExact:
        out.clear();
        QUIVER_RETURN_IF_ERROR(
            index->ScoreKeys(query, planned.keys.data(), planned.keys.size(), &out));
        KeepTopK(&out, wanted);
        break;
    }
  }

  if (plan.rerank_candidates > 0) {
    // Re-score every candidate with its float32 embedding from SQLite.
    const Metric metric = config().metric;
    for (std::size_t q = 0; q < num_queries; ++q) {
      std::vector<Match>& out = results[q];
      std::vector<Key> keys(out.size());
      std::transform(out.begin(), out.end(), keys.begin(), [](const Match& m) { return m.key; });
      QUIVER_ASSIGN_OR_RETURN(auto embeddings,
                              context_.db->GetEmbeddings(entry_.id, dimensions_, keys));
      std::vector<Match> rescored;
      rescored.reserve(out.size());
      for (std::size_t i = 0; i < out.size(); ++i) {
        if (embeddings[i].size() != dims) continue;  // deleted since the index search
        rescored.push_back(
            Match{out[i].key,
                  {},
                  index::F32Distance(metric, queries + q * dims, embeddings[i].data(), dims),
                  {},
                  {}});
      }
      KeepTopK(&rescored, k);
      out = std::move(rescored);
    }
  }

  if (options.max_distance != std::numeric_limits<float>::infinity()) {
    for (std::vector<Match>& out : results) {
      out.erase(std::remove_if(out.begin(), out.end(),
                               [&](const Match& m) { return m.distance > options.max_distance; }),
                out.end());
    }
  }
  QUIVER_RETURN_IF_ERROR(FillResults(options, &results));
  return results;
}

// --- Reads and writes by filter ------------------------------------------------------

Result<std::uint64_t> CollectionImpl::Count(const std::string& filter_text) {
  QUIVER_RETURN_IF_ERROR(CheckUsable(/*write=*/false));
  QUIVER_ASSIGN_OR_RETURN(filter::Node node, ParseFilter(filter_text));
  if (filter::MatchesAll(node)) return context_.db->CountRecords(entry_.id);
  return context_.db->CountWhere(entry_.id, storage::CompileFilter(node));
}

namespace {

/// Parses a Scan cursor: "k<key>" for key order, "i<seq>:<key>" or "i-:<key>"
/// (a record older than insertion order) for insertion order, the key an int64.
/// nullopt if `cursor` is not one of `order`'s.
std::optional<storage::Database::ScanPosition> ParseCursor(const std::string& cursor,
                                                           ScanOrder order) {
  auto parse_int = [](std::string_view text, std::int64_t* value) {
    const auto parsed = std::from_chars(text.data(), text.data() + text.size(), *value);
    return !text.empty() && parsed.ec == std::errc() && parsed.ptr == text.data() + text.size();
  };
  storage::Database::ScanPosition position;
  if (order == ScanOrder::kKey) {
    if (cursor.size() < 2 || cursor[0] != kCursorPrefix) return std::nullopt;
    if (!parse_int(std::string_view(cursor).substr(1), &position.key)) return std::nullopt;
    return position;
  }
  const std::size_t colon = cursor.find(':');
  if (cursor.size() < 4 || cursor[0] != kInsertionCursorPrefix || colon == std::string::npos) {
    return std::nullopt;
  }
  const std::string_view seq = std::string_view(cursor).substr(1, colon - 1);
  if (seq != "-") {
    std::int64_t value = 0;
    if (!parse_int(seq, &value)) return std::nullopt;
    position.seq = value;
  }
  if (!parse_int(std::string_view(cursor).substr(colon + 1), &position.key)) return std::nullopt;
  return position;
}

/// The cursor that continues after `position` in `order` (ParseCursor's forms).
std::string MakeCursor(const storage::Database::ScanPosition& position, ScanOrder order) {
  if (order == ScanOrder::kKey) return kCursorPrefix + std::to_string(position.key);
  return kInsertionCursorPrefix + (position.seq ? std::to_string(*position.seq) : "-") + ":" +
         std::to_string(position.key);
}

}  // namespace

Result<ScanPage> CollectionImpl::Scan(const ScanOptions& options) {
  QUIVER_RETURN_IF_ERROR(CheckUsable(/*write=*/false));
  if (options.limit == 0 || options.limit > kMaxBatchSize) {
    return Status::InvalidArgument("limit: " + std::to_string(options.limit) + "; expected 1.." +
                                   std::to_string(kMaxBatchSize));
  }
  if (options.keys.size() > kMaxBatchSize) {
    return Status::InvalidArgument("keys: " + std::to_string(options.keys.size()) +
                                   " keys; expected at most " + std::to_string(kMaxBatchSize));
  }
  storage::Database::ScanRequest request;
  request.order = options.order;
  request.keys = options.keys;
  if (!options.cursor.empty()) {
    request.after = ParseCursor(options.cursor, options.order);
    if (!request.after) {
      return Status::InvalidArgument("cursor: '" + options.cursor.substr(0, 80) +
                                     "' is not a cursor of this collection for a scan in " +
                                     (options.order == ScanOrder::kKey ? "key" : "insertion") +
                                     " order; expected the next_cursor of a previous page");
    }
  }
  QUIVER_ASSIGN_OR_RETURN(filter::Node node, ParseFilter(options.filter));
  // One record more than asked tells whether another page follows.
  request.offset = options.offset;
  request.limit = options.limit + 1;
  request.with_text = options.include_text;
  request.with_metadata = options.include_metadata;
  request.with_embedding = options.include_embedding;
  std::vector<storage::Database::ScanPosition> positions;
  QUIVER_ASSIGN_OR_RETURN(
      std::vector<Record> records,
      context_.db->ScanRecords(entry_.id, storage::CompileFilter(node), request, &positions));
  ScanPage page;
  if (records.size() > options.limit) {
    records.resize(options.limit);
    page.next_cursor = MakeCursor(positions[options.limit - 1], options.order);
  }
  page.records = std::move(records);
  return page;
}

Result<std::size_t> CollectionImpl::DeleteWhere(const std::string& filter_text) {
  QUIVER_RETURN_IF_ERROR(CheckUsable(/*write=*/true));
  if (filter_text.find_first_not_of(" \t\r\n") == std::string::npos) {
    return Status::InvalidArgument(
        "where: is empty; a delete needs a filter (\"{}\" deletes every record)");
  }
  QUIVER_ASSIGN_OR_RETURN(filter::Node node, ParseFilter(filter_text));
  std::lock_guard<std::mutex> lock(write_mu_);
  QUIVER_RETURN_IF_ERROR(CheckUsable(/*write=*/true));
  std::vector<Key> deleted;
  QUIVER_ASSIGN_OR_RETURN(
      auto written, context_.db->DeleteWhere(entry_.id, storage::CompileFilter(node), &deleted));
  return ApplyDeletes(deleted, written);
}

// --- Field indexes ---------------------------------------------------------------------

Status CollectionImpl::CreateFieldIndex(const std::string& field) {
  QUIVER_RETURN_IF_ERROR(CheckUsable(/*write=*/true));
  // Checked as filters check field names, so that it is spelled as they spell it.
  QUIVER_ASSIGN_OR_RETURN(filter::Field parsed, filter::ParseFieldName(field, "field"));
  if (parsed.kind != filter::FieldKind::kMetadata) {
    return Status::InvalidArgument("field: '" + field +
                                   "' is the record's own; 'key' and 'id' are always indexed");
  }
  std::lock_guard<std::mutex> lock(write_mu_);
  return context_.db->CreateFieldIndex(entry_.id, field, parsed.segments);
}

Status CollectionImpl::DropFieldIndex(const std::string& field) {
  QUIVER_RETURN_IF_ERROR(CheckUsable(/*write=*/true));
  std::lock_guard<std::mutex> lock(write_mu_);
  return context_.db->DropFieldIndex(entry_.id, field);
}

Result<std::vector<std::string>> CollectionImpl::FieldIndexes() {
  QUIVER_RETURN_IF_ERROR(CheckUsable(/*write=*/false));
  return context_.db->ListFieldIndexes(entry_.id);
}

}  // namespace quiver
