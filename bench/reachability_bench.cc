// Copyright (c) Quiver authors.
//
// quiver_bench_reachability: unreachable and unfindable HNSW nodes (issue
// 15), Quiver's index before and after RepairReachability, and hnswlib with
// the same M and ef_construction, in one run; then 5 churn rounds on both.
//
//   quiver_bench_reachability --data data/fashion-mnist [--n ROWS] [--m 16] [--ef-add 128]
//       [--threads 2] [--rounds 5] [--churn 0.2] [--baseline] [--no-import] [--no-hnswlib]
//       [--out bench/results/x.json]
//
// Measures, for each graph:
//   unreachable   live vectors that no walk from the entry point reaches
//                 (Quiver: HnswIndex::CheckReachability; hnswlib: the same
//                 breadth-first walk over its link lists, here)
//   miss@64/512   vectors that an HNSW search (k=10) for their own vector does
//                 not return, at expansion 64 (Quiver's default) and 512, with
//                 each library's own search. The 512 search is run only for the
//                 vectors missed at 64 (a search that found its own vector at
//                 distance 0 with a smaller candidate list finds it with a
//                 larger one).
//   recall@10     at expansion 64 over query.fbin against gt_l2sq.ibin (not with
//                 --n below the file's rows: the ground truth is for all of them)
//   build_s       wall time of the build (threads as given); then the repair as
//                 the write path's walks run it (walk + relink) and as a build
//                 runs it (also the self-query check of every vector), each
//                 timed and measured; and the check's replayed searches timed
//                 against USearch's own on the built graph (same keys missed?)
// Churn: each round removes a random `churn` fraction of the vectors and adds
// them again (Quiver: Remove + AddBatch in batches of 1000 with the write
// path's repairs, which reuses removed slots; hnswlib: markDelete + addPoint,
// which updates in place), then Quiver repairs as a checkpoint does; the time
// in AddBatch and in the repairs is reported apart. A second Quiver index is
// built as `quiver import` does (batches of 1000 through the write path's
// repairs, then a checkpoint's). --baseline adds both again with the write
// path's checks limited to the added vectors (as before the walks also
// searched the vectors whose in-degree fell, and the scrub). The index is used
// directly (src/index/hnsw_index.h), as the collection's build, write path and
// checkpoint use it, so that "before repair" can be measured.

#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <iostream>
#include <numeric>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bench_util.h"
#include "index/hnsw_index.h"

namespace quiver::bench {
namespace {

using Json = nlohmann::json;

struct Flags {
  std::string data;
  std::string out;
  std::size_t n = 0;  // 0 = every row of base.fbin
  std::size_t m = 16;
  std::size_t ef_add = 128;
  std::size_t threads = 2;
  std::size_t rounds = 5;
  double churn = 0.2;
  /// Also run the policies before the at-risk check (a full self-query check
  /// after builds; write paths that check only the added vectors), side by side.
  bool baseline = false;
  /// Leave out the import-like builds / hnswlib (shorter runs while tuning).
  bool no_import = false;
  bool no_hnswlib = false;
};

constexpr std::size_t kK = 10;
constexpr std::size_t kBatch = 4096;        // CollectionImpl's rebuild batch
constexpr std::size_t kImportBatch = 1000;  // `quiver import`'s default batch

/// Runs fn(i) for i in [0, n) on `threads` threads.
template <typename Fn>
void ParallelFor(std::size_t n, std::size_t threads, Fn fn) {
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i; (i = next.fetch_add(1)) < n;) fn(i);
  };
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
}

/// Rows among `rows` whose own search (k=10) misses them; search(row, ef) ->
/// true when found.
template <typename Found>
std::vector<std::size_t> Misses(const std::vector<std::size_t>& rows, std::size_t threads,
                                Found found) {
  std::vector<std::uint8_t> missed(rows.size(), 0);
  ParallelFor(rows.size(), threads, [&](std::size_t i) { missed[i] = !found(rows[i]); });
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (missed[i]) out.push_back(rows[i]);
  }
  return out;
}

/// One measurement point: the walk, self-query misses at 64 and 512, recall.
struct Point {
  std::size_t unreachable = 0;
  std::size_t miss64 = 0;
  std::size_t miss512 = 0;
  double recall64 = -1;
  Json ToJson() const {
    return {{"unreachable", unreachable},
            {"self_query_miss_ef64", miss64},
            {"self_query_miss_ef512", miss512},
            {"recall_at_10_ef64", recall64}};
  }
};

/// A graph under test: Quiver's HnswIndex or hnswlib.
class Graph {
 public:
  virtual ~Graph() = default;
  virtual std::size_t Unreachable() = 0;
  virtual bool FindsItself(std::size_t row, std::size_t ef) = 0;
  virtual void SetEf(std::size_t ef) = 0;
  virtual void SearchKeys(const float* query, std::uint64_t* keys) = 0;
  virtual void Churn(const std::vector<std::size_t>& rows) = 0;
};

class QuiverGraph : public Graph {
 public:
  QuiverGraph(const Matrix& base, const Flags& flags) : base_(base) {
    CollectionConfig config;
    config.dimensions = static_cast<std::uint32_t>(base.cols);
    config.metric = Metric::kL2sq;
    config.connectivity = static_cast<std::uint32_t>(flags.m);
    config.expansion_add = static_cast<std::uint32_t>(flags.ef_add);
    auto created = index::HnswIndex::Create(config, flags.threads, flags.threads);
    if (!created.ok()) throw std::runtime_error(created.status().ToString());
    index_ = std::move(created).value();
  }
  /// Adds `rows` in batches of `batch`; with `write_path`, repairs after each
  /// batch as CollectionImpl::ApplyUpserts does (self-query check of the
  /// batch; a walk once 1/64 of the index was added since the last one, which
  /// also checks the vectors whose in-degree fell). With `added_only`, as the
  /// write path did before that: the walks only relink unreachable vectors.
  void AddRows(const std::vector<std::size_t>& rows, std::size_t batch = kBatch,
               bool write_path = false) {
    std::vector<Key> keys;
    std::vector<float> vectors;
    std::size_t since_walk = 0;
    for (std::size_t i = 0; i < rows.size(); i += batch) {
      keys.clear();
      vectors.clear();
      for (std::size_t j = i; j < std::min(rows.size(), i + batch); ++j) {
        keys.push_back(rows[j]);
        vectors.insert(vectors.end(), base_.Row(rows[j]), base_.Row(rows[j]) + base_.cols);
      }
      const auto add_start = Clock::now();
      Check(index_->AddBatch(keys.data(), vectors.data(), keys.size()));
      add_s_ += Seconds(add_start);
      if (!write_path) continue;
      const auto repair_start = Clock::now();
      since_walk += keys.size();
      const bool walk = since_walk * 64 >= index_->size();
      if (walk) since_walk = 0;
      auto repaired =
          index_->RepairReachability(index::HnswIndex::SelfQueries::kAdded, walk && !added_only_);
      if (!repaired.ok()) throw std::runtime_error(repaired.status().ToString());
      Count(*repaired);
      if (walk && added_only_) {
        repaired = index_->RepairReachability(index::HnswIndex::SelfQueries::kNone, true);
        if (!repaired.ok()) throw std::runtime_error(repaired.status().ToString());
        Count(*repaired);
      }
      repair_s_ += Seconds(repair_start);
    }
  }
  /// Wall seconds in AddBatch and in the write path's repairs (AddRows).
  double add_s_ = 0;
  double repair_s_ = 0;
  /// As a checkpoint repairs (a walk, and the write path's check).
  index::ReachabilityRepair Checkpoint() {
    return Repair(added_only_ ? index::HnswIndex::SelfQueries::kNone
                              : index::HnswIndex::SelfQueries::kAdded);
  }
  void Count(const index::ReachabilityRepair& r) {
    write_path_found_ += r.found;
    write_path_missed_ += r.self_query_missed;
    write_path_queried_ += r.self_queried;
    write_path_distances_ += r.self_query_distances;
  }
  std::uint64_t write_path_distances_ = 0;
  /// The write path's policy before the at-risk check (see AddRows).
  bool added_only_ = false;
  std::uint64_t write_path_found_ = 0;
  std::uint64_t write_path_missed_ = 0;
  std::uint64_t write_path_queried_ = 0;
  index::ReachabilityRepair Repair(index::HnswIndex::SelfQueries self_queries) {
    auto repair = index_->RepairReachability(self_queries);
    if (!repair.ok()) throw std::runtime_error(repair.status().ToString());
    return *repair;
  }
  double WalkMs() { return index_->CheckReachability()->walk_ms; }
  /// The keys the self-query check would find missed (k=10, expansion 64), by
  /// replaying searches (HnswIndex::FindSelfQueryMisses), and its seconds.
  std::vector<Key> ReplayedMisses(std::size_t threads, double* seconds) {
    const auto start = Clock::now();
    auto missed = index_->FindSelfQueryMisses(kK, 64, threads);
    *seconds = Seconds(start);
    if (!missed.ok()) throw std::runtime_error(missed.status().ToString());
    return *missed;
  }
  std::size_t Unreachable() override { return index_->CheckReachability()->unreachable.size(); }
  bool FindsItself(std::size_t row, std::size_t ef) override {
    std::vector<Match> matches;
    Check(index_->Search(base_.Row(row), kK, ef, &matches));
    return std::any_of(matches.begin(), matches.end(),
                       [&](const Match& m) { return m.key == row; });
  }
  void SetEf(std::size_t ef) override { ef_ = ef; }
  void SearchKeys(const float* query, std::uint64_t* keys) override {
    std::vector<Match> matches;
    Check(index_->Search(query, kK, ef_, &matches));
    std::fill(keys, keys + kK, kNoKey);
    for (std::size_t i = 0; i < matches.size(); ++i) keys[i] = matches[i].key;
  }
  void Churn(const std::vector<std::size_t>& rows) override {
    const std::vector<Key> keys(rows.begin(), rows.end());
    Check(index_->Remove(keys.data(), keys.size()));
    AddRows(rows, kImportBatch, /*write_path=*/true);
  }

 private:
  static void Check(const Status& s) {
    if (!s.ok()) throw std::runtime_error(s.ToString());
  }
  const Matrix& base_;
  std::unique_ptr<index::HnswIndex> index_;
  std::size_t ef_ = 64;
};

class HnswlibGraph : public Graph {
 public:
  HnswlibGraph(const Matrix& base, const Flags& flags)
      : base_(base), threads_(flags.threads), space_(base.cols) {
    index_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(&space_, base.rows, flags.m,
                                                               flags.ef_add, /*random_seed=*/100);
  }
  void AddRows(const std::vector<std::size_t>& rows) {
    ParallelFor(rows.size(), threads_,
                [&](std::size_t i) { index_->addPoint(base_.Row(rows[i]), rows[i]); });
  }
  std::size_t Unreachable() override {
    auto& h = *index_;
    const std::size_t n = h.cur_element_count;
    if (n == 0) return 0;
    std::vector<std::uint8_t> reached(n, 0);
    std::vector<hnswlib::tableint> queue{h.enterpoint_node_};
    reached[h.enterpoint_node_] = 1;
    for (std::size_t head = 0; head < queue.size(); ++head) {
      const hnswlib::tableint id = queue[head];
      for (int level = 0; level <= h.element_levels_[id]; ++level) {
        hnswlib::linklistsizeint* list =
            level == 0 ? h.get_linklist0(id) : h.get_linklist(id, level);
        const auto* links = reinterpret_cast<const hnswlib::tableint*>(list + 1);
        for (std::size_t j = 0; j < h.getListCount(list); ++j) {
          if (!reached[links[j]]) {
            reached[links[j]] = 1;
            queue.push_back(links[j]);
          }
        }
      }
    }
    std::size_t unreachable = 0;
    for (std::size_t id = 0; id < n; ++id) {
      unreachable += !reached[id] && !h.isMarkedDeleted(static_cast<hnswlib::tableint>(id));
    }
    return unreachable;
  }
  bool FindsItself(std::size_t row, std::size_t ef) override {
    if (ef != ef_) SetEf(ef);
    auto result = index_->searchKnn(base_.Row(row), kK);
    for (; !result.empty(); result.pop()) {
      if (result.top().second == row) return true;
    }
    return false;
  }
  void SetEf(std::size_t ef) override {
    ef_ = ef;
    index_->setEf(ef);
  }
  void SearchKeys(const float* query, std::uint64_t* keys) override {
    auto result = index_->searchKnn(query, kK);
    std::fill(keys, keys + kK, kNoKey);
    for (std::size_t i = result.size(); i > 0; --i, result.pop()) {
      if (i <= kK) keys[i - 1] = result.top().second;
    }
  }
  void Churn(const std::vector<std::size_t>& rows) override {
    for (std::size_t row : rows) index_->markDelete(row);
    AddRows(rows);  // addPoint on a deleted label unmarks and updates it
  }

 private:
  const Matrix& base_;
  std::size_t threads_;
  hnswlib::L2Space space_;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> index_;
  std::size_t ef_ = 0;
};

Point Measure(Graph& graph, const Matrix& base, const Matrix& query, const Matrix* truth,
              std::size_t threads) {
  Point p;
  p.unreachable = graph.Unreachable();
  std::vector<std::size_t> all(base.rows);
  std::iota(all.begin(), all.end(), 0);
  graph.SetEf(64);
  const auto missed64 =
      Misses(all, threads, [&](std::size_t row) { return graph.FindsItself(row, 64); });
  p.miss64 = missed64.size();
  graph.SetEf(512);
  p.miss512 = Misses(missed64, threads, [&](std::size_t row) {
                return graph.FindsItself(row, 512);
              }).size();
  if (truth != nullptr) {
    graph.SetEf(64);
    std::vector<std::uint64_t> found(query.rows * kK);
    ParallelFor(query.rows, threads,
                [&](std::size_t q) { graph.SearchKeys(query.Row(q), found.data() + q * kK); });
    p.recall64 = RecallAtK(found.data(), query.rows, kK, *truth);
  }
  return p;
}

void PrintPoint(const std::string& what, const Point& p, std::size_t n) {
  fmt::print("{:<34} unreachable {:>6}  miss@64 {:>6} ({:.4f}%)  miss@512 {:>6} ({:.4f}%)", what,
             p.unreachable, p.miss64, 100.0 * p.miss64 / n, p.miss512, 100.0 * p.miss512 / n);
  if (p.recall64 >= 0) fmt::print("  recall@10@64 {:.4f}", p.recall64);
  fmt::print("\n");
  std::fflush(stdout);
}

int Run(const Flags& flags) {
  const std::string hint = "see bench/prepare_fashion_mnist.py or bench/prepare_clustered.py";
  Matrix base = ReadBin(flags.data + "/base.fbin", false, hint);
  const bool subset = flags.n > 0 && flags.n < base.rows;
  if (subset) {  // the first n rows; the ground truth no longer applies
    base.rows = flags.n;
    base.f.resize(base.rows * base.cols);
  }
  const Matrix query = ReadBin(flags.data + "/query.fbin", false, hint);
  Matrix truth_storage;
  const Matrix* truth = nullptr;
  if (!subset && std::ifstream(flags.data + "/gt_l2sq.ibin").good()) {
    truth_storage = ReadBin(flags.data + "/gt_l2sq.ibin", true, hint);
    truth = &truth_storage;
  }
  const std::size_t n = base.rows;
  fmt::print("{}: {} x {}, M={} ef_add={} threads={} (load average {:.1f})\n", flags.data, n,
             base.cols, flags.m, flags.ef_add, flags.threads, ReadLoadAverage().one);
  std::vector<std::size_t> all(n);
  std::iota(all.begin(), all.end(), 0);
  std::mt19937_64 rng(20261202);
  std::vector<std::vector<std::size_t>> churn_rows(flags.rounds);
  for (auto& rows : churn_rows) {
    rows = all;
    std::shuffle(rows.begin(), rows.end(), rng);
    rows.resize(static_cast<std::size_t>(flags.churn * static_cast<double>(n)));
  }
  Json out = {{"data", flags.data},     {"n", n},
              {"dims", base.cols},      {"m", flags.m},
              {"ef_add", flags.ef_add}, {"threads", flags.threads},
              {"rounds", flags.rounds}, {"churn", flags.churn},
              {"utc", UtcTimestamp()},  {"cpu", CpuModel()}};

  auto repair_json = [](const index::ReachabilityRepair& r) {
    return Json{{"ms", r.ms},
                {"found", r.found},
                {"self_queried", r.self_queried},
                {"self_query_distances", r.self_query_distances},
                {"self_query_missed", r.self_query_missed},
                {"relinked", r.relinked},
                {"edges_replaced", r.edges_replaced},
                {"remaining", r.remaining},
                {"walks", r.walks}};
  };
  // Churns `graph` for flags.rounds rounds, each followed by a checkpoint's
  // repair; returns the rounds as JSON and the total seconds.
  auto churn = [&](QuiverGraph& graph, const std::string& name, double* seconds) {
    Json rounds = Json::array();
    *seconds = 0;
    for (std::size_t r = 0; r < flags.rounds; ++r) {
      const auto start = Clock::now();
      graph.Churn(churn_rows[r]);
      const auto fixed = graph.Checkpoint();
      const double churn_s = Seconds(start);
      *seconds += churn_s;
      fmt::print(
          "  {} churn round {}: {} re-added in {:.1f} s with its repairs (write path so far: "
          "walks found {}, self-queries {}, missed {}); checkpoint repair found {} "
          "unreachable, {} self-queries, relinked {}, {} remain, {:.1f} ms\n",
          name, r + 1, churn_rows[r].size(), churn_s, graph.write_path_found_,
          graph.write_path_queried_, graph.write_path_missed_, fixed.found, fixed.self_queried,
          fixed.relinked, fixed.remaining, fixed.ms);
      rounds.push_back({{"readded", churn_rows[r].size()},
                        {"seconds", churn_s},
                        {"write_path_walk_found", graph.write_path_found_},
                        {"write_path_self_queried", graph.write_path_queried_},
                        {"write_path_self_query_missed", graph.write_path_missed_},
                        {"checkpoint_repair", repair_json(fixed)}});
    }
    return rounds;
  };
  // A build, then its repair as `self_queries` asks (after a walk repair,
  // measured apart), then churn rounds through the write path.
  auto quiver_run = [&](const std::string& name, index::HnswIndex::SelfQueries self_queries,
                        bool added_only) {
    QuiverGraph quiver(base, flags);
    quiver.added_only_ = added_only;
    auto start = Clock::now();
    quiver.AddRows(all);
    const double build_s = Seconds(start);
    const double walk_ms = quiver.WalkMs();
    const Point before = Measure(quiver, base, query, truth, flags.threads);
    PrintPoint(name + " built, before repair", before, n);
    // The check's replayed searches against USearch's own, on this graph:
    // the same keys missed, and the time each takes for all of them.
    double replay_s = 0;
    const std::vector<Key> replayed = quiver.ReplayedMisses(flags.threads, &replay_s);
    start = Clock::now();
    std::vector<std::size_t> searched =
        Misses(all, flags.threads, [&](std::size_t row) { return quiver.FindsItself(row, 64); });
    const double search_s = Seconds(start);
    const bool agree = std::equal(replayed.begin(), replayed.end(), searched.begin(),
                                  searched.end(), [](Key a, std::size_t b) { return a == b; });
    fmt::print(
        "  self-queries at 64 (k=10): USearch's search {:.2f} s, {} missed; replayed with the "
        "early stop {:.2f} s ({:.1f}x faster), {} missed, {}\n",
        search_s, searched.size(), replay_s, search_s / replay_s, replayed.size(),
        agree ? "the same keys" : "DIFFERENT KEYS");
    const auto walk_repair = quiver.Repair(index::HnswIndex::SelfQueries::kNone);
    const Point after_walk = Measure(quiver, base, query, truth, flags.threads);
    PrintPoint(name + " after walk repair", after_walk, n);
    const auto check = quiver.Repair(self_queries);
    const Point after = Measure(quiver, base, query, truth, flags.threads);
    PrintPoint(name + " after self-query check", after, n);
    fmt::print(
        "  build {:.1f} s; walk {:.1f} ms; walk repair {:.1f} ms: found {}, relinked {}, "
        "edges replaced {}, walks {}; self-query check {:.1f} ms: {} searches ({:.1f} M "
        "distances), missed {}, relinked {}, edges replaced {}; both {:.2f}% of the build\n",
        build_s, walk_ms, walk_repair.ms, walk_repair.found, walk_repair.relinked,
        walk_repair.edges_replaced, walk_repair.walks, check.ms, check.self_queried,
        check.self_query_distances / 1e6, check.self_query_missed, check.relinked,
        check.edges_replaced, (walk_repair.ms + check.ms) / 10.0 / build_s);
    quiver.write_path_found_ = quiver.write_path_missed_ = quiver.write_path_queried_ = 0;
    quiver.write_path_distances_ = 0;
    quiver.add_s_ = quiver.repair_s_ = 0;
    double churn_s = 0;
    Json rounds = churn(quiver, name, &churn_s);
    const Point churned = Measure(quiver, base, query, truth, flags.threads);
    PrintPoint(name + " after churn", churned, n);
    fmt::print(
        "  {} churn: {:.1f} s in all: AddBatch {:.1f} s, the write path's repairs {:.1f} s "
        "({:.0f}%; {} self-queries, {:.1f} M distances)\n",
        name, churn_s, quiver.add_s_, quiver.repair_s_, 100.0 * quiver.repair_s_ / quiver.add_s_,
        quiver.write_path_queried_, quiver.write_path_distances_ / 1e6);
    return Json{{"build_s", build_s},
                {"walk_ms", walk_ms},
                {"self_queries_search_s", search_s},
                {"self_queries_replay_s", replay_s},
                {"self_queries_replay_agrees", agree},
                {"before", before.ToJson()},
                {"after_walk_repair", after_walk.ToJson()},
                {"after_self_query_check", after.ToJson()},
                {"walk_repair", repair_json(walk_repair)},
                {"self_query_check", repair_json(check)},
                {"churn_rounds", rounds},
                {"churn_s", churn_s},
                {"churn_add_s", quiver.add_s_},
                {"churn_repair_s", quiver.repair_s_},
                {"churn_self_query_distances", quiver.write_path_distances_},
                {"after_churn", churned.ToJson()}};
  };
  // As `quiver import` builds it: batches of 1000 through the write path,
  // then a checkpoint's repair.
  auto import_run = [&](const std::string& name, bool added_only) {
    QuiverGraph imported(base, flags);
    imported.added_only_ = added_only;
    auto start = Clock::now();
    imported.AddRows(all, kImportBatch, /*write_path=*/true);
    const auto closing = imported.Checkpoint();
    const double build_s = Seconds(start);
    const Point point = Measure(imported, base, query, truth, flags.threads);
    PrintPoint(name, point, n);
    fmt::print(
        "  {} {:.1f} s: AddBatch {:.1f} s, the write path's repairs {:.1f} s ({:.0f}%; walks "
        "found {}, {} self-queries, {:.1f} M distances, {} missed and relinked; checkpoint "
        "repair found {}, {} self-queries)\n",
        name, build_s, imported.add_s_, imported.repair_s_,
        100.0 * imported.repair_s_ / imported.add_s_, imported.write_path_found_,
        imported.write_path_queried_, imported.write_path_distances_ / 1e6,
        imported.write_path_missed_, closing.found, closing.self_queried);
    return Json{{"build_s", build_s},
                {"add_s", imported.add_s_},
                {"repair_s", imported.repair_s_},
                {"self_query_distances", imported.write_path_distances_},
                {"point", point.ToJson()},
                {"walk_found", imported.write_path_found_},
                {"self_queried", imported.write_path_queried_},
                {"self_query_missed", imported.write_path_missed_},
                {"checkpoint_repair", repair_json(closing)}};
  };
  out["quiver"] = quiver_run("quiver", index::HnswIndex::SelfQueries::kAll, false);
  if (!flags.no_import) out["quiver_import"] = import_run("quiver import-like", false);
  if (flags.baseline) {
    out["quiver_full_check"] = quiver_run("quiver(full check, added-only writes)",
                                          index::HnswIndex::SelfQueries::kAll, true);
    if (!flags.no_import) {
      out["quiver_import_added_only"] = import_run("quiver import-like (added-only writes)", true);
    }
  }
  if (!flags.no_hnswlib) {
    HnswlibGraph hnsw(base, flags);
    auto start = Clock::now();
    hnsw.AddRows(all);
    const double build_s = Seconds(start);
    const Point built = Measure(hnsw, base, query, truth, flags.threads);
    PrintPoint("hnswlib built", built, n);
    fmt::print("  build {:.1f} s\n", build_s);
    for (std::size_t r = 0; r < flags.rounds; ++r) hnsw.Churn(churn_rows[r]);
    const Point churned = Measure(hnsw, base, query, truth, flags.threads);
    PrintPoint("hnswlib after churn", churned, n);
    out["hnswlib"] = {
        {"build_s", build_s}, {"built", built.ToJson()}, {"after_churn", churned.ToJson()}};
  }
  if (!flags.out.empty()) {
    std::ofstream(flags.out) << out.dump(2) << "\n";
    fmt::print("wrote {}\n", flags.out);
  }
  return 0;
}

}  // namespace
}  // namespace quiver::bench

int main(int argc, char** argv) {
  quiver::bench::Flags flags;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(arg + ": expected a value");
      return argv[++i];
    };
    try {
      if (arg == "--data") {
        flags.data = value();
      } else if (arg == "--out") {
        flags.out = value();
      } else if (arg == "--n") {
        flags.n = std::stoul(value());
      } else if (arg == "--m") {
        flags.m = std::stoul(value());
      } else if (arg == "--ef-add") {
        flags.ef_add = std::stoul(value());
      } else if (arg == "--threads") {
        flags.threads = std::stoul(value());
      } else if (arg == "--rounds") {
        flags.rounds = std::stoul(value());
      } else if (arg == "--churn") {
        flags.churn = std::stod(value());
      } else if (arg == "--baseline") {
        flags.baseline = true;
      } else if (arg == "--no-import") {
        flags.no_import = true;
      } else if (arg == "--no-hnswlib") {
        flags.no_hnswlib = true;
      } else {
        std::cerr << "unknown flag " << arg << "\n";
        return 2;
      }
    } catch (const std::exception& e) {
      std::cerr << "error: " << e.what() << "\n";
      return 2;
    }
  }
  if (flags.data.empty()) {
    std::cerr << "usage: quiver_bench_reachability --data DIR [--n ROWS] [--m 16] [--ef-add 128] "
                 "[--threads 2] [--rounds 5] [--churn 0.2] [--baseline] [--out FILE.json]\n";
    return 2;
  }
  try {
    return quiver::bench::Run(flags);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
