// Copyright (c) Quiver authors.
//
// Every stored record is findable (issue 15), through the public API: the
// write path, checkpoints, reopen and churn keep the HNSW graph free of
// unreachable nodes; Verify and Stats report them; a crash in the middle of
// a repair leaves a store that opens, verifies and finds every record.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "common/test_util.h"
#include "quiver/quiver.h"
#include "util/crash_point.h"

namespace quiver {
namespace {

using ::quiver::testing::QuietOptions;
using ::quiver::testing::TempDir;
using ::testing::HasSubstr;

constexpr std::size_t kDims = 8;
constexpr std::size_t kRecords = 4000;

/// M=4 over tight clusters: a build strands nodes (see the unit test).
CollectionConfig StrandingConfig() {
  CollectionConfig c;
  c.dimensions = kDims;
  c.metric = Metric::kL2sq;
  c.connectivity = 4;
  c.expansion_add = 16;
  return c;
}

std::vector<Record> TightClusterRecords(std::size_t n, std::uint32_t seed, Key first_key = 0) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::mt19937 centre_rng(99);  // the same 16 centres for every call
  std::vector<float> centres(16 * kDims);
  for (float& c : centres) c = normal(centre_rng);
  std::vector<Record> records(n);
  for (std::size_t i = 0; i < n; ++i) {
    records[i].key = first_key + i;
    const std::size_t cluster = rng() % 16;
    records[i].embedding.resize(kDims);
    for (std::size_t d = 0; d < kDims; ++d) {
      records[i].embedding[d] = centres[cluster * kDims + d] + 0.02f * normal(rng);
    }
  }
  return records;
}

/// Keys of `records` that a Search (HNSW, default expansion, k=10) for their
/// own embedding does not return.
std::vector<Key> SelfQueryMisses(Collection& c, const std::vector<Record>& records,
                                 std::size_t expansion = 0) {
  std::vector<Key> missed;
  SearchOptions options;
  options.expansion_search = expansion;
  for (const Record& r : records) {
    auto matches = c.Search(r.embedding, options);
    EXPECT_TRUE(matches.ok()) << matches.status().ToString();
    if (!matches.ok()) continue;
    if (std::none_of(matches->begin(), matches->end(),
                     [&](const Match& m) { return m.key == r.key; })) {
      missed.push_back(r.key);
    }
  }
  return missed;
}

void UpsertInBatches(Collection& c, const std::vector<Record>& records, std::size_t batch) {
  for (std::size_t i = 0; i < records.size(); i += batch) {
    std::vector<Record> part(records.begin() + i,
                             records.begin() + std::min(records.size(), i + batch));
    ASSERT_TRUE(c.Upsert(part).ok());
  }
}

/// At most this many of `live` may be missed by a search for their own
/// vector, at the collection's default expansion and at 512.
struct MissBound {
  std::size_t at_default = 0;
  std::size_t at_512 = 0;
};

/// Verify is clean and finds no unreachable vector, Stats agrees, and
/// searches for the records' own vectors miss no more than `bound` allows.
/// (The default expansion is passed explicitly: a search with expansion 0 uses
/// the one the previous search set, 512 after this function.)
void ExpectHealthy(Collection& c, const std::vector<Record>& live, MissBound bound) {
  auto report = c.Verify();
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_TRUE(report->clean()) << ::testing::PrintToString(report->problems);
  EXPECT_EQ(report->unreachable, 0u);
  EXPECT_EQ(c.Stats()->unreachable_vectors, 0u);
  EXPECT_LE(SelfQueryMisses(c, live, c.config().expansion_search).size(), bound.at_default);
  EXPECT_LE(SelfQueryMisses(c, live, 512).size(), bound.at_512);
}

/// After a build from SQLite, which searches every vector for itself and
/// links the ones missed: none missed, even on these deliberately bad graphs
/// (M=3 or 4 over tight clusters).
constexpr MissBound kBuilt{0, 0};

TEST(FindableTest, WritesCheckpointsAndReopenKeepEveryRecordFindable) {
  TempDir dir;
  const auto records = TightClusterRecords(kRecords, 1);
  // One add thread, so that the graph (and what the checks find) is the same
  // on every run; ReachabilityTest.ConcurrentAddsAreRepaired covers
  // concurrent adds.
  StoreOptions options_one_thread = QuietOptions();
  options_one_thread.insert_threads = 1;
  // Built by the write path (batches of 500, each checked; walks with their
  // checks of the vectors whose in-degree fell, and the scrub): 1 missed at
  // the default expansion, none at 512 (a check of the added vectors alone:
  // 17 and 9).
  const MissBound written{4, 0};
  {
    auto store = *Store::Open(dir.path(), options_one_thread);
    auto c = *store->CreateCollection("docs", StrandingConfig());
    UpsertInBatches(*c, records, 500);
    ExpectHealthy(*c, records, written);
    ASSERT_TRUE(c->Checkpoint().ok());
  }
  auto store = *Store::Open(dir.path(), options_one_thread);
  auto c = *store->GetCollection("docs");
  ExpectHealthy(*c, records, written);
  // A rebuild (here with another M) builds a new graph and repairs it too.
  RebuildOptions options;
  options.connectivity = 3;
  ASSERT_TRUE(c->Rebuild(options).ok());
  ExpectHealthy(*c, records, kBuilt);
}

TEST(FindableTest, ChurnDoesNotGrowTheUnreachableCount) {
  TempDir dir;
  auto records = TightClusterRecords(kRecords, 2);
  StoreOptions options = QuietOptions();
  options.insert_threads = 1;  // the same graph on every run
  auto store = *Store::Open(dir.path(), options);
  auto c = *store->CreateCollection("docs", StrandingConfig());
  UpsertInBatches(*c, records, 1000);
  std::mt19937 rng(3);
  for (int round = 0; round < 5; ++round) {
    // 20% of the records: half deleted and inserted again, half updated.
    std::vector<std::size_t> rows(kRecords);
    for (std::size_t i = 0; i < kRecords; ++i) rows[i] = i;
    std::shuffle(rows.begin(), rows.end(), rng);
    rows.resize(kRecords / 5);
    const auto fresh = TightClusterRecords(rows.size(), 10 + round);
    std::vector<Key> deleted;
    for (std::size_t i = 0; i < rows.size() / 2; ++i) deleted.push_back(rows[i]);
    ASSERT_TRUE(c->Delete(deleted).ok());
    std::vector<Record> changed;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      records[rows[i]].embedding = fresh[i].embedding;
      changed.push_back(records[rows[i]]);
    }
    UpsertInBatches(*c, changed, 200);
    SCOPED_TRACE("round " + std::to_string(round));
    // Nothing unreachable. Findability: each update moves a vector to another
    // cluster and leaves the edges into its slot pointing there, and with M=4
    // these graphs lose their way; no checkpoint compacts them here. The
    // write path's checks keep the misses at 512 to 1, 10, 9, 10 and 15 of
    // 4,000 after the five rounds, and at the default expansion to 37 (a
    // check of the added vectors alone: 5, 28, 47, 99, 148, and 266).
    ExpectHealthy(*c, records, MissBound{kRecords / 50, kRecords / 200});
  }
}

// The crash point stops every repair after its first relinked node: the
// write path leaves nodes stranded (Verify and Stats must show them), the
// checkpoint refuses to save that graph, and after the "crash" the store
// reopens, repairs, verifies clean and finds every record.
TEST(FindableTest, CrashMidRepairLeavesALoadableVerifiableStore) {
  TempDir dir;
  const auto records = TightClusterRecords(kRecords, 4);
  {
    StoreOptions options = QuietOptions();
    options.checkpoint_on_close = false;  // the "crash": nothing more is written
    auto store = *Store::Open(dir.path(), options);
    auto c = *store->CreateCollection("docs", StrandingConfig());
    crash_point::Arm("reachability.mid_repair", [](std::string_view point) {
      return Status::IOError("simulated crash at " + std::string(point));
    });
    ASSERT_TRUE(c->Upsert(records).ok()) << "the write is acknowledged before the repair";
    auto report = c->Verify();
    ASSERT_TRUE(report.ok());
    EXPECT_GT(report->unreachable, 0u);
    EXPECT_FALSE(report->clean());
    EXPECT_THAT(::testing::PrintToString(report->problems), HasSubstr("unreachable"));
    EXPECT_EQ(c->Stats()->unreachable_vectors, report->unreachable);
    Status checkpoint = c->Checkpoint();
    EXPECT_FALSE(checkpoint.ok());
    EXPECT_THAT(checkpoint.message(), HasSubstr("reachability.mid_repair"));
    EXPECT_EQ(c->Stats()->checkpoint_generation, 0u) << "no graph with known strays is saved";
    crash_point::DisarmAll();
  }
  auto store = *Store::Open(dir.path(), QuietOptions());
  auto c = *store->GetCollection("docs");
  ExpectHealthy(*c, records, kBuilt);  // no checkpoint: rebuilt from SQLite
  ASSERT_TRUE(c->Checkpoint().ok());
  EXPECT_EQ(c->Stats()->checkpoint_generation, 1u);
}

}  // namespace
}  // namespace quiver
