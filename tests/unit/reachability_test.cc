// Copyright (c) Quiver authors.
//
// Unreachable HNSW nodes (issue 15): graphs built to strand nodes (small M,
// tight clusters, concurrent adds, churn) must show them in the walk, and
// after RepairReachability every live key must be found by an HNSW search
// for its own vector at the default expansion.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "common/test_util.h"
#include "index/hnsw_index.h"
#include "quiver/env.h"
#include "util/crash_point.h"

namespace quiver {
namespace {

using ::quiver::testing::TempDir;
using ::testing::IsEmpty;

constexpr std::size_t kDims = 8;

/// A graph that strands nodes: M=4 (8 edges on level 0), a short candidate
/// list, over tight clusters, so that the pruning heuristic drops the only
/// edge into some nodes (about 0.3% of them, as on Fashion-MNIST at M=16).
CollectionConfig StrandingConfig() {
  CollectionConfig c;
  c.dimensions = kDims;
  c.metric = Metric::kL2sq;
  c.connectivity = 4;
  c.expansion_add = 16;
  c.expansion_search = 64;
  return c;
}

/// n points in `clusters` clusters of spread 0.02 around centres of spread 1.
std::vector<float> TightClusters(std::size_t n, std::uint32_t seed, std::size_t clusters = 16) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> centres(clusters * kDims);
  for (float& c : centres) c = normal(rng);
  std::vector<float> out(n * kDims);
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t cluster = rng() % clusters;
    for (std::size_t d = 0; d < kDims; ++d) {
      out[i * kDims + d] = centres[cluster * kDims + d] + 0.02f * normal(rng);
    }
  }
  return out;
}

std::vector<Key> Iota(std::size_t n, Key first = 0) {
  std::vector<Key> keys(n);
  for (std::size_t i = 0; i < n; ++i) keys[i] = first + i;
  return keys;
}

/// Keys among `keys` (rows of `vectors`) that an HNSW search for their own
/// vector does not return in its top 10, at `expansion` (0 = the default).
std::vector<Key> SelfQueryMisses(const index::HnswIndex& index, const std::vector<Key>& keys,
                                 const std::vector<float>& vectors, std::size_t expansion = 0) {
  std::vector<Key> missed;
  std::vector<Match> matches;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    EXPECT_TRUE(index.Search(vectors.data() + i * kDims, 10, expansion, &matches).ok());
    const bool found = std::any_of(matches.begin(), matches.end(),
                                   [&](const Match& m) { return m.key == keys[i]; });
    if (!found) missed.push_back(keys[i]);
  }
  return missed;
}

std::unique_ptr<index::HnswIndex> Build(const std::vector<Key>& keys,
                                        const std::vector<float>& vectors,
                                        std::size_t add_threads) {
  auto index = index::HnswIndex::Create(StrandingConfig(), 2, add_threads);
  EXPECT_TRUE(index.ok());
  EXPECT_TRUE((*index)->AddBatch(keys.data(), vectors.data(), keys.size()).ok());
  return std::move(index).value();
}

TEST(ReachabilityTest, WalkFindsStrandedNodesThatNoSearchReturns) {
  const std::size_t n = 4000;
  const auto vectors = TightClusters(n, 7);
  const auto keys = Iota(n);
  auto index = Build(keys, vectors, /*add_threads=*/1);

  auto report = index->CheckReachability();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->live_vectors, n);
  ASSERT_FALSE(report->unreachable.empty()) << "this graph is built to strand nodes";
  EXPECT_TRUE(std::is_sorted(report->unreachable.begin(), report->unreachable.end()));
  EXPECT_EQ(index->last_unreachable(), report->unreachable.size());
  // The walk is exact: a stranded key is not found even when the search may
  // visit every node.
  std::vector<float> stranded;
  for (Key k : report->unreachable) {
    stranded.insert(stranded.end(), vectors.begin() + k * kDims, vectors.begin() + (k + 1) * kDims);
  }
  EXPECT_EQ(SelfQueryMisses(*index, report->unreachable, stranded, /*expansion=*/n),
            report->unreachable);
}

TEST(ReachabilityTest, RepairMakesEveryKeyFindableAtTheDefaultExpansion) {
  const std::size_t n = 4000;
  const auto vectors = TightClusters(n, 7);
  const auto keys = Iota(n);
  auto index = Build(keys, vectors, /*add_threads=*/1);
  const std::size_t stranded = index->CheckReachability()->unreachable.size();
  ASSERT_GT(stranded, 0u);

  // Relinking the unreachable vectors alone makes them reachable...
  auto repair = index->RepairReachability();
  ASSERT_TRUE(repair.ok()) << repair.status().ToString();
  EXPECT_EQ(repair->found, stranded);
  EXPECT_GT(repair->relinked, 0u);
  EXPECT_LE(repair->relinked, stranded);
  EXPECT_EQ(repair->remaining, 0u);
  EXPECT_EQ(repair->self_query_missed, 0u) << "not checked without SelfQueries::kAll";
  EXPECT_THAT(index->CheckReachability()->unreachable, IsEmpty());
  EXPECT_EQ(index->last_unreachable(), 0u);
  // ...and the self-query check makes every vector findable by its own search.
  auto checked = index->RepairReachability(index::HnswIndex::SelfQueries::kAll);
  ASSERT_TRUE(checked.ok()) << checked.status().ToString();
  EXPECT_EQ(checked->found, 0u);
  EXPECT_EQ(checked->remaining, 0u);
  EXPECT_THAT(SelfQueryMisses(*index, keys, vectors), IsEmpty());
  EXPECT_THAT(index->CheckReachability()->unreachable, IsEmpty());
  // A second repair finds nothing to do.
  auto again = index->RepairReachability();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->found, 0u);
  EXPECT_EQ(again->walks, 1u);
}

TEST(ReachabilityTest, ConcurrentAddsAreRepaired) {
  const std::size_t n = 8000;
  const auto vectors = TightClusters(n, 11);
  const auto keys = Iota(n);
  auto index = Build(keys, vectors, /*add_threads=*/4);
  ASSERT_EQ(index->size(), n);
  EXPECT_FALSE(index->CheckReachability()->unreachable.empty());
  auto repair = index->RepairReachability(index::HnswIndex::SelfQueries::kAll);
  ASSERT_TRUE(repair.ok()) << repair.status().ToString();
  EXPECT_EQ(repair->remaining, 0u);
  EXPECT_THAT(index->CheckReachability()->unreachable, IsEmpty());
  // Concurrent adds make the graph vary from run to run (here 80 to 830 of
  // 8,000 missed before the repair); the check searches again every vector
  // whose search read a list it edited, so none stays missed (0 in 100 runs
  // with 4 and 8 add threads, docs/reachability.md).
  EXPECT_THAT(SelfQueryMisses(*index, keys, vectors), IsEmpty());
  EXPECT_THAT(SelfQueryMisses(*index, keys, vectors, /*expansion=*/512), IsEmpty());
}

// Deletes and updates (USearch reuses removed slots) keep stranding nodes; a
// repair after each round keeps the count at zero.
TEST(ReachabilityTest, ChurnRoundsStayRepaired) {
  const std::size_t n = 4000;
  auto vectors = TightClusters(n, 3);
  const auto keys = Iota(n);
  auto index = Build(keys, vectors, /*add_threads=*/1);
  ASSERT_EQ(index->RepairReachability()->remaining, 0u);
  std::mt19937 rng(5);
  std::size_t stranded_by_churn = 0;
  for (int round = 0; round < 5; ++round) {
    // Replace 20% of the vectors: half by delete + re-add, half by upsert.
    std::vector<Key> chosen = keys;
    std::shuffle(chosen.begin(), chosen.end(), rng);
    chosen.resize(n / 5);
    const auto fresh = TightClusters(chosen.size(), 100 + round);
    std::vector<Key> deleted(chosen.begin(), chosen.begin() + chosen.size() / 2);
    ASSERT_TRUE(index->Remove(deleted.data(), deleted.size()).ok());
    ASSERT_TRUE(index->AddBatch(chosen.data(), fresh.data(), chosen.size()).ok());
    for (std::size_t i = 0; i < chosen.size(); ++i) {
      std::copy(fresh.begin() + i * kDims, fresh.begin() + (i + 1) * kDims,
                vectors.begin() + chosen[i] * kDims);
    }
    auto repair = index->RepairReachability();
    ASSERT_TRUE(repair.ok()) << repair.status().ToString();
    stranded_by_churn += repair->found;
    EXPECT_EQ(repair->remaining, 0u) << "round " << round;
    EXPECT_EQ(index->size(), n);
  }
  EXPECT_GT(stranded_by_churn, 0u) << "churn on this graph strands nodes";
  EXPECT_THAT(index->CheckReachability()->unreachable, IsEmpty());
  ASSERT_TRUE(index->RepairReachability(index::HnswIndex::SelfQueries::kAll).ok());
  EXPECT_THAT(SelfQueryMisses(*index, keys, vectors), IsEmpty());
}

// The write path's check: each batch's vectors are searched for themselves,
// without a walk of the whole graph, and the ones missed are linked.
TEST(ReachabilityTest, AddedVectorsAreCheckedWithoutAWalk) {
  const std::size_t n = 4000;
  const auto vectors = TightClusters(n, 7);
  const auto keys = Iota(n);
  auto index = Build(keys, vectors, /*add_threads=*/1);
  ASSERT_TRUE(index->RepairReachability(index::HnswIndex::SelfQueries::kAdded).ok());
  const auto batch = TightClusters(1000, 21);
  const auto batch_keys = Iota(1000, n);
  ASSERT_TRUE(index->AddBatch(batch_keys.data(), batch.data(), batch_keys.size()).ok());
  auto checked =
      index->RepairReachability(index::HnswIndex::SelfQueries::kAdded, /*walk_first=*/false);
  ASSERT_TRUE(checked.ok()) << checked.status().ToString();
  EXPECT_EQ(checked->found, 0u) << "no walk";
  EXPECT_GT(checked->self_query_missed, 0u) << "this graph makes some added vectors unfindable";
  EXPECT_EQ(checked->edges_replaced, 0u) << "without a walk's in-degrees, only appends";
  EXPECT_EQ(checked->walks, 0u);
  EXPECT_LE(SelfQueryMisses(*index, batch_keys, batch).size(), checked->self_query_missed / 4)
      << "linking from where the failed search ended fixes most of them";
  // The next check has nothing left to look at.
  EXPECT_EQ(
      index->RepairReachability(index::HnswIndex::SelfQueries::kAdded, false)->self_query_missed,
      0u);
}

// Deletes and updates change the neighbourhoods of vectors they never add:
// with a walk, the write path's check also searches the vectors whose
// in-degree fell and a scrub window, and after the same churn it leaves fewer
// vectors unfindable than a check of the added vectors alone.
TEST(ReachabilityTest, WritePathChecksMoreThanTheAddedVectors) {
  const std::size_t n = 4000;
  auto vectors = TightClusters(n, 3);
  const auto keys = Iota(n);
  auto added_only = Build(keys, vectors, /*add_threads=*/1);
  auto walked = Build(keys, vectors, /*add_threads=*/1);
  for (auto* index : {added_only.get(), walked.get()}) {
    ASSERT_TRUE(index->RepairReachability(index::HnswIndex::SelfQueries::kAll).ok());
    ASSERT_THAT(SelfQueryMisses(*index, keys, vectors), IsEmpty());
  }
  // Replace 20% of the vectors: half by delete + re-add, half by upsert.
  std::mt19937 rng(5);
  std::vector<Key> chosen = keys;
  std::shuffle(chosen.begin(), chosen.end(), rng);
  chosen.resize(n / 5);
  const auto fresh = TightClusters(chosen.size(), 100);
  const std::vector<Key> deleted(chosen.begin(), chosen.begin() + chosen.size() / 2);
  for (std::size_t i = 0; i < chosen.size(); ++i) {
    std::copy(fresh.begin() + i * kDims, fresh.begin() + (i + 1) * kDims,
              vectors.begin() + chosen[i] * kDims);
  }
  for (auto* index : {added_only.get(), walked.get()}) {
    ASSERT_TRUE(index->Remove(deleted.data(), deleted.size()).ok());
    ASSERT_TRUE(index->AddBatch(chosen.data(), fresh.data(), chosen.size()).ok());
  }
  // Before the walk: the added vectors only; then a walk that relinks.
  ASSERT_TRUE(added_only->RepairReachability(index::HnswIndex::SelfQueries::kAdded, false).ok());
  ASSERT_TRUE(added_only->RepairReachability(index::HnswIndex::SelfQueries::kNone).ok());
  auto checked = walked->RepairReachability(index::HnswIndex::SelfQueries::kAdded);
  ASSERT_TRUE(checked.ok()) << checked.status().ToString();
  EXPECT_GT(checked->self_queried, 2 * chosen.size()) << "the added, the fallen, the scrub";
  EXPECT_EQ(checked->remaining, 0u);
  const std::size_t missed_added_only = SelfQueryMisses(*added_only, keys, vectors).size();
  const std::size_t missed_walked = SelfQueryMisses(*walked, keys, vectors).size();
  EXPECT_GT(missed_added_only, 0u) << "churn on this graph diverts searches";
  EXPECT_LT(missed_walked, missed_added_only);
}

// A loaded checkpoint's graph was checked before it was saved: its in-degrees
// are the baseline, so a repair that walks it searches nothing that did not
// change since.
TEST(ReachabilityTest, ALoadedGraphIsNotSearchedAgain) {
  TempDir dir;
  const std::size_t n = 4000;
  const auto vectors = TightClusters(n, 7);
  const auto keys = Iota(n);
  auto built = Build(keys, vectors, /*add_threads=*/1);
  ASSERT_TRUE(built->RepairReachability(index::HnswIndex::SelfQueries::kAll).ok());
  const std::string path = dir.Join("graph.usearch");
  auto file = *Env::Default()->NewWritableFile(path);
  const index::CheckpointIdentity identity{1, 1, n};
  auto info = built->SaveCheckpoint(file.get(), identity);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  ASSERT_TRUE(file->Close().ok());
  auto load = [&] {
    return *index::HnswIndex::LoadCheckpoint(Env::Default(), path, StrandingConfig(), identity,
                                             info->checksum, 2, 1);
  };
  // Nothing changed: nothing to search (the repair takes the baseline).
  auto loaded = load();
  auto repaired = loaded->RepairReachability(index::HnswIndex::SelfQueries::kAdded);
  ASSERT_TRUE(repaired.ok()) << repaired.status().ToString();
  EXPECT_EQ(repaired->self_queried, 0u);
  // A write that changes nothing either (Remove takes the baseline first).
  loaded = load();
  const Key absent = n + 1;
  ASSERT_TRUE(loaded->Remove(&absent, 1).ok());
  EXPECT_EQ(loaded->RepairReachability(index::HnswIndex::SelfQueries::kAdded)->self_queried, 0u);
  // An update: its vector, the vectors whose in-degree it lowered, and the
  // scrub's window (two per added vector), each once or again when an edit
  // diverted its search.
  loaded = load();
  const std::vector<float> moved = TightClusters(1, 99);
  const Key updated = 5;
  ASSERT_TRUE(loaded->AddBatch(&updated, moved.data(), 1).ok());
  repaired = loaded->RepairReachability(index::HnswIndex::SelfQueries::kAdded);
  ASSERT_TRUE(repaired.ok()) << repaired.status().ToString();
  EXPECT_GE(repaired->self_queried, 3u);
  EXPECT_LT(repaired->self_queried, 20u) << "not every low in-degree vector of the graph (103)";
}

// A repair stopped half-way (an error, a crash) leaves a valid graph: every
// search works, the walk still counts honestly, and a later repair finishes.
TEST(ReachabilityTest, InterruptedRepairLeavesAValidGraph) {
  const std::size_t n = 4000;
  const auto vectors = TightClusters(n, 7);
  const auto keys = Iota(n);
  auto index = Build(keys, vectors, /*add_threads=*/1);
  const std::size_t stranded = index->CheckReachability()->unreachable.size();
  ASSERT_GT(stranded, 1u);
  crash_point::Arm("reachability.mid_repair", [](std::string_view point) {
    return Status::IOError("simulated crash at " + std::string(point));
  });
  auto repair = index->RepairReachability();
  crash_point::DisarmAll();
  ASSERT_FALSE(repair.ok());
  EXPECT_THAT(repair.status().message(), ::testing::HasSubstr("reachability.mid_repair"));
  const auto left = index->CheckReachability()->unreachable;
  EXPECT_LT(left.size(), stranded);
  EXPECT_GT(left.size(), 0u);
  // Searching works, and still cannot return what the walk says is stranded.
  std::vector<float> stranded_vectors;
  for (Key k : left) {
    stranded_vectors.insert(stranded_vectors.end(), vectors.begin() + k * kDims,
                            vectors.begin() + (k + 1) * kDims);
  }
  EXPECT_EQ(SelfQueryMisses(*index, left, stranded_vectors, /*expansion=*/n), left);
  auto finished = index->RepairReachability(index::HnswIndex::SelfQueries::kAll);
  ASSERT_TRUE(finished.ok());
  EXPECT_EQ(finished->remaining, 0u);
  EXPECT_THAT(SelfQueryMisses(*index, keys, vectors), IsEmpty());
}

// The self-query check replays USearch's search (hnsw_graph.h's SelfSearch)
// instead of running it, stopping as soon as it reaches the vector. On graphs
// where many searches miss, and with removed nodes that searches walk
// through, it must agree with Search on every key: for l2sq and cos (where it
// stops early) and ip (where it runs to the end), at two expansions.
TEST(ReachabilityTest, ReplayedSelfQueriesAgreeWithSearch) {
  const std::size_t n = 4000;
  const auto vectors = TightClusters(n, 7);
  for (Metric metric : {Metric::kL2sq, Metric::kCos, Metric::kIp}) {
    SCOPED_TRACE(MetricName(metric));
    CollectionConfig config = StrandingConfig();
    config.metric = metric;
    auto index = *index::HnswIndex::Create(config, 2, 1);
    const auto keys = Iota(n);
    ASSERT_TRUE(index->AddBatch(keys.data(), vectors.data(), n).ok());
    // Remove every tenth vector: their nodes stay in the graph as bridges.
    std::vector<Key> live_keys;
    std::vector<float> live_vectors;
    std::vector<Key> removed;
    for (Key k = 0; k < n; ++k) {
      if (k % 10 == 3) {
        removed.push_back(k);
        continue;
      }
      live_keys.push_back(k);
      live_vectors.insert(live_vectors.end(), vectors.begin() + k * kDims,
                          vectors.begin() + (k + 1) * kDims);
    }
    ASSERT_TRUE(index->Remove(removed.data(), removed.size()).ok());
    for (std::size_t expansion : {16, 64}) {
      SCOPED_TRACE("expansion " + std::to_string(expansion));
      const auto searched = SelfQueryMisses(*index, live_keys, live_vectors, expansion);
      auto replayed = index->FindSelfQueryMisses(10, expansion, 2);
      ASSERT_TRUE(replayed.ok()) << replayed.status().ToString();
      EXPECT_EQ(*replayed, searched);
      EXPECT_GE(searched.size(), 10u) << "this graph makes searches miss";
    }
  }
}

TEST(ReachabilityTest, EmptyAndTinyIndexes) {
  auto index = *index::HnswIndex::Create(StrandingConfig(), 1, 1);
  auto empty = index->CheckReachability();
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->live_vectors, 0u);
  EXPECT_THAT(empty->unreachable, IsEmpty());
  EXPECT_EQ(index->RepairReachability()->found, 0u);
  const std::vector<float> one(kDims, 1.0f);
  const Key key = 42;
  ASSERT_TRUE(index->AddBatch(&key, one.data(), 1).ok());
  EXPECT_THAT(index->CheckReachability()->unreachable, IsEmpty());
  // A removed entry point still leads searches on; its key is not counted.
  ASSERT_TRUE(index->Remove(&key, 1).ok());
  EXPECT_EQ(index->CheckReachability()->live_vectors, 0u);
}

}  // namespace
}  // namespace quiver
