// Copyright (c) Quiver authors.
//
// The library end to end on a real directory: create, write, search, reopen.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <thread>

#include "common/test_util.h"
#include "quiver/quiver.h"

namespace quiver {
namespace {

using ::quiver::testing::BruteForceTopK;
using ::quiver::testing::ClusteredVectors;
using ::quiver::testing::LowRankVectors;
using ::quiver::testing::MakeRecords;
using ::quiver::testing::QuietOptions;
using ::quiver::testing::TempDir;
using ::testing::HasSubstr;

std::unique_ptr<Store> OpenStore(const std::string& dir, StoreOptions options = QuietOptions()) {
  auto store = Store::Open(dir, options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(store).value() : nullptr;
}

CollectionConfig Config(std::uint32_t dims, Metric metric) {
  CollectionConfig c;
  c.dimensions = dims;
  c.metric = metric;
  return c;
}

class RecallTest : public ::testing::TestWithParam<Metric> {};

// recall@10 of the HNSW search against an exact brute-force oracle, on a
// fixed-seed clustered data set, for each metric.
TEST_P(RecallTest, RecallAt10AgainstBruteForceOracle) {
  constexpr std::size_t kDims = 32, kBase = 5000, kQueries = 200, kK = 10;
  const Metric metric = GetParam();
  TempDir dir;
  auto store = OpenStore(dir.path());
  auto collection = store->CreateCollection("vectors", Config(kDims, metric));
  ASSERT_TRUE(collection.ok()) << collection.status().ToString();

  std::vector<float> base = LowRankVectors(kBase, kDims, /*seed=*/42);
  if (metric == Metric::kIp) {
    // ip is meant for unit vectors; normalize so that it ranks like cos.
    for (std::size_t i = 0; i < kBase; ++i) {
      double norm = 0;
      for (std::size_t d = 0; d < kDims; ++d) norm += base[i * kDims + d] * base[i * kDims + d];
      for (std::size_t d = 0; d < kDims; ++d) base[i * kDims + d] /= std::sqrt(norm);
    }
  }
  ASSERT_TRUE((*collection)->Upsert(MakeRecords(base, kDims)).ok());

  std::vector<float> queries = LowRankVectors(kQueries, kDims, /*seed=*/7);
  SearchOptions options;
  options.k = kK;
  auto results = (*collection)->Search(queries.data(), kQueries, options);
  ASSERT_TRUE(results.ok()) << results.status().ToString();
  std::size_t hits = 0;
  for (std::size_t q = 0; q < kQueries; ++q) {
    auto truth = BruteForceTopK(metric, base, kDims, queries.data() + q * kDims, kK);
    std::set<Key> expected(truth.begin(), truth.end());
    const auto& matches = (*results)[q];
    ASSERT_EQ(matches.size(), kK);
    for (std::size_t i = 0; i + 1 < matches.size(); ++i) {
      EXPECT_LE(matches[i].distance, matches[i + 1].distance) << "results must be closest first";
    }
    for (const Match& m : matches) hits += expected.count(m.key);
  }
  const double recall = double(hits) / (kQueries * kK);
  EXPECT_GE(recall, 0.95) << "metric " << MetricName(metric);
  std::printf("[ recall   ] metric=%s recall@10=%.4f\n", std::string(MetricName(metric)).c_str(),
              recall);
}

INSTANTIATE_TEST_SUITE_P(AllMetrics, RecallTest,
                         ::testing::Values(Metric::kCos, Metric::kIp, Metric::kL2sq),
                         [](const auto& info) { return std::string(MetricName(info.param)); });

TEST(StoreTest, SearchReturnsTextMetadataAndExactDistance) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  auto c = *store->CreateCollection("docs", Config(3, Metric::kL2sq));
  Record r{7, "ext-7", "hello", R"({"lang": "en"})", {1, 2, 3}};
  ASSERT_TRUE(c->Upsert({r, Record{8, "", "far", "", {10, 10, 10}}}).ok());
  auto matches = c->Search(std::vector<float>{1, 2, 4}, SearchOptions{});
  ASSERT_TRUE(matches.ok()) << matches.status().ToString();
  ASSERT_EQ(matches->size(), 2u);
  EXPECT_EQ((*matches)[0].key, 7u);
  EXPECT_FLOAT_EQ((*matches)[0].distance, 1.0f);  // squared L2: (4-3)^2
  EXPECT_EQ((*matches)[0].id, "ext-7");
  EXPECT_EQ((*matches)[0].text, "hello");
  EXPECT_EQ((*matches)[0].metadata, R"({"lang": "en"})");
  EXPECT_EQ((*matches)[1].metadata, "{}");
}

TEST(StoreTest, UpsertReplacesTheVectorOfAKey) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  auto c = *store->CreateCollection("docs", Config(2, Metric::kL2sq));
  ASSERT_TRUE(c->Upsert({{1, "", "old", "", {0, 0}}, {2, "", "other", "", {5, 5}}}).ok());
  ASSERT_TRUE(c->Upsert({{1, "", "new", "", {9, 9}}}).ok());
  EXPECT_EQ(*c->Count(), 2u);
  auto near_new = *c->Search(std::vector<float>{9, 9}, SearchOptions{});
  EXPECT_EQ(near_new[0].key, 1u);
  EXPECT_EQ(near_new[0].text, "new");
  EXPECT_FLOAT_EQ(near_new[0].distance, 0.0f);
  auto near_old = *c->Search(std::vector<float>{0, 0}, SearchOptions{});
  EXPECT_EQ(near_old[0].key, 2u) << "the old vector of key 1 must be gone from the index";
  auto got = *c->Get({1});
  ASSERT_TRUE(got[0].has_value());
  EXPECT_EQ(got[0]->embedding, (std::vector<float>{9, 9}));
}

TEST(StoreTest, DeletedRecordIsNeverReturned) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  auto c = *store->CreateCollection("docs", Config(2, Metric::kL2sq));
  ASSERT_TRUE(c->Upsert({{1, "", "a", "", {0, 0}}, {2, "", "b", "", {1, 1}}}).ok());
  auto deleted = c->Delete({1, 99});
  ASSERT_TRUE(deleted.ok());
  EXPECT_EQ(*deleted, 1u) << "absent keys are not counted";
  auto matches = *c->Search(std::vector<float>{0, 0}, SearchOptions{});
  ASSERT_EQ(matches.size(), 1u);
  EXPECT_EQ(matches[0].key, 2u);
  EXPECT_FALSE((*c->Get({1}))[0].has_value());
  EXPECT_EQ(*c->Count(), 1u);
}

TEST(StoreTest, InsertAssignsConsecutiveFreshKeys) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  auto c = *store->CreateCollection("docs", Config(2, Metric::kIp));
  ASSERT_TRUE(c->Upsert({{41, "", "", "", {1, 0}}}).ok());
  auto keys = c->Insert({{0, "", "x", "", {0, 1}}, {0, "", "y", "", {1, 1}}});
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  EXPECT_EQ(*keys, (std::vector<Key>{42, 43}));
  EXPECT_EQ((*c->Get({43}))[0]->text, "y");
}

// With text and metadata off, ids still come back: free (no lookup) while
// the collection has never stored a string id, looked up once it has, also
// after a reopen (when the collection must ask SQLite whether it has any).
TEST(StoreTest, SearchNamesStringIdsWithoutTextOrMetadata) {
  TempDir dir;
  SearchOptions ids_only;
  ids_only.include_text = ids_only.include_metadata = false;
  SearchOptions bare = ids_only;
  bare.include_id = false;
  {
    auto store = OpenStore(dir.path());
    auto c = *store->CreateCollection("docs", Config(2, Metric::kL2sq));
    ASSERT_TRUE(c->Upsert({{1, "", "a", "", {0, 0}}, {2, "", "b", "", {5, 5}}}).ok());
    auto unnamed = *c->Search(std::vector<float>{0, 0}, ids_only);
    ASSERT_EQ(unnamed.size(), 2u);
    EXPECT_EQ(unnamed[0].key, 1u);
    EXPECT_EQ(unnamed[0].id, "");
    ASSERT_TRUE(c->Upsert({{3, "doc-3", "c", "", {1, 1}}}).ok());
    auto named = *c->Search(std::vector<float>{1, 1}, ids_only);
    EXPECT_EQ(named[0].key, 3u);
    EXPECT_EQ(named[0].id, "doc-3") << "a string id written after the first search";
    EXPECT_EQ(named[0].text, "");
    EXPECT_EQ((*c->Search(std::vector<float>{1, 1}, bare))[0].id, "");
    ASSERT_TRUE(store->Close().ok());
  }
  auto store = OpenStore(dir.path());
  auto c = *store->GetCollection("docs");
  auto named = *c->Search(std::vector<float>{1, 1}, ids_only);
  EXPECT_EQ(named[0].id, "doc-3") << "after a reopen";
  EXPECT_EQ(named[1].id, "");
}

TEST(StoreTest, ReopenAfterCleanCloseKeepsEverything) {
  constexpr std::size_t kDims = 16, kN = 3000;
  TempDir dir;
  std::vector<float> base = ClusteredVectors(kN, kDims, 1);
  {
    auto store = OpenStore(dir.path());
    auto c = *store->CreateCollection("docs", Config(kDims, Metric::kCos));
    ASSERT_TRUE(c->Upsert(MakeRecords(base, kDims)).ok());
    ASSERT_TRUE(c->Delete({0, 1, 2}).ok());
    ASSERT_TRUE(store->Close().ok());
  }
  auto store = OpenStore(dir.path());
  auto c = *store->GetCollection("docs");
  EXPECT_EQ(*c->Count(), kN - 3);
  auto stats = *c->Stats();
  EXPECT_EQ(stats.index_vectors, kN - 3);
  EXPECT_EQ(stats.checkpoint_generation, 1u);
  EXPECT_EQ(stats.change_log_length, 0u) << "the checkpoint trims the log it covers";
  auto report = *c->Verify();
  EXPECT_TRUE(report.clean()) << ::testing::PrintToString(report.problems);
  auto match = *c->Search(std::vector<float>(base.begin() + 5 * kDims, base.begin() + 6 * kDims),
                          SearchOptions{});
  EXPECT_EQ(match[0].key, 5u);
}

TEST(StoreTest, ReopenWithoutCheckpointReplaysTheChangeLog) {
  constexpr std::size_t kDims = 8;
  TempDir dir;
  std::vector<float> base = ClusteredVectors(1000, kDims, 3);
  StoreOptions options = QuietOptions();
  {
    auto store = OpenStore(dir.path());
    auto c = *store->CreateCollection("docs", Config(kDims, Metric::kL2sq));
    ASSERT_TRUE(c->Upsert(MakeRecords(base, kDims)).ok());
    ASSERT_TRUE(c->Checkpoint().ok());
    // Changes after the checkpoint, then a "crash": no checkpoint on close.
    ASSERT_TRUE(c->Delete({10, 11}).ok());
    ASSERT_TRUE(c->Upsert({{5000, "", "late", "", std::vector<float>(kDims, 0.5f)}}).ok());
    options.checkpoint_on_close = false;
  }
  {
    auto store = Store::Open(dir.path(), QuietOptions());
    ASSERT_TRUE(store.ok());
  }
  options.checkpoint_on_close = false;
  auto store = OpenStore(dir.path(), options);
  auto c = *store->GetCollection("docs");
  EXPECT_EQ(*c->Count(), 999u);
  EXPECT_TRUE(c->Verify()->clean());
  EXPECT_FALSE((*c->Get({10}))[0].has_value());
  auto late = *c->Search(std::vector<float>(kDims, 0.5f), SearchOptions{});
  EXPECT_EQ(late[0].key, 5000u);
}

TEST(StoreTest, SecondWriterIsRefusedByTheLock) {
  TempDir dir;
  auto first = OpenStore(dir.path());
  auto second = Store::Open(dir.path(), QuietOptions());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kBusy);
  EXPECT_THAT(second.status().message(), HasSubstr("LOCK"));
  StoreOptions read_only = QuietOptions();
  read_only.read_only = true;
  EXPECT_TRUE(Store::Open(dir.path(), read_only).ok()) << "readers take no lock";
}

TEST(StoreTest, ReadOnlyStoreRejectsWrites) {
  TempDir dir;
  {
    auto store = OpenStore(dir.path());
    auto c = *store->CreateCollection("docs", Config(2, Metric::kL2sq));
    ASSERT_TRUE(c->Upsert({{1, "", "", "", {1, 2}}}).ok());
  }
  StoreOptions options = QuietOptions();
  options.read_only = true;
  auto store = OpenStore(dir.path(), options);
  auto c = *store->GetCollection("docs");
  EXPECT_EQ(c->Upsert({{2, "", "", "", {1, 2}}}).code(), StatusCode::kNotSupported);
  EXPECT_EQ(*c->Count(), 1u);
  EXPECT_EQ((*c->Search(std::vector<float>{1, 2}, SearchOptions{}))[0].key, 1u);
}

// A read-only store maps a current checkpoint (USearch view) instead of
// copying it, and answers exactly as the writer did; it takes no lock, so it
// can open beside a writer.
TEST(StoreTest, ReadOnlyStoreMapsACurrentCheckpoint) {
  constexpr std::size_t kDims = 8, kN = 500;
  TempDir dir;
  std::vector<float> base = ClusteredVectors(kN, kDims, 3);
  std::vector<float> query(base.begin() + 7 * kDims, base.begin() + 8 * kDims);
  SearchOptions options;
  options.k = 20;
  std::vector<Match> expected;
  auto writer = OpenStore(dir.path());
  {
    auto c = *writer->CreateCollection("docs", Config(kDims, Metric::kL2sq));
    ASSERT_TRUE(c->Upsert(MakeRecords(base, kDims)).ok());
    ASSERT_TRUE(c->Checkpoint().ok());
    expected = *c->Search(query, options);
  }
  StoreOptions read_only = QuietOptions();
  read_only.read_only = true;
  auto store = OpenStore(dir.path(), read_only);  // beside the open writer
  ASSERT_NE(store, nullptr);
  auto c = *store->GetCollection("docs");
  auto stats = *c->Stats();
  EXPECT_TRUE(stats.index_mapped);
  EXPECT_EQ(stats.index_vectors, kN);
  auto got = *c->Search(query, options);
  ASSERT_EQ(got.size(), expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].key, expected[i].key) << "rank " << i;
    EXPECT_EQ(got[i].distance, expected[i].distance) << "rank " << i;
    EXPECT_EQ(got[i].text, expected[i].text) << "rank " << i;
  }
  EXPECT_TRUE((*c->Verify()).clean());
  EXPECT_EQ(c->Upsert({{kN, "", "", "", std::vector<float>(kDims, 1)}}).code(),
            StatusCode::kNotSupported);
  EXPECT_EQ(c->Delete({1}).status().code(), StatusCode::kNotSupported);
}

// Changes after the checkpoint cannot be replayed into a mapped file: the
// read-only store then copies the checkpoint and replays them.
TEST(StoreTest, ReadOnlyStoreReplaysChangesNewerThanTheCheckpoint) {
  TempDir dir;
  StoreOptions no_checkpoint = QuietOptions();
  no_checkpoint.checkpoint_on_close = false;
  {
    auto store = OpenStore(dir.path(), no_checkpoint);
    auto c = *store->CreateCollection("docs", Config(2, Metric::kL2sq));
    ASSERT_TRUE(c->Upsert({{1, "", "one", "", {0, 0}}, {2, "", "two", "", {5, 5}}}).ok());
    ASSERT_TRUE(c->Checkpoint().ok());
    ASSERT_TRUE(c->Upsert({{3, "", "three", "", {9, 9}}}).ok());
    ASSERT_TRUE(c->Delete({1}).ok());
    ASSERT_TRUE(store->Close().ok());
  }
  StoreOptions read_only = QuietOptions();
  read_only.read_only = true;
  auto store = OpenStore(dir.path(), read_only);
  auto c = *store->GetCollection("docs");
  auto stats = *c->Stats();
  EXPECT_FALSE(stats.index_mapped);
  EXPECT_EQ(stats.index_vectors, 2u);
  EXPECT_EQ((*c->Search(std::vector<float>{9, 9}, SearchOptions{}))[0].key, 3u);
  EXPECT_EQ((*c->Search(std::vector<float>{0, 0}, SearchOptions{}))[0].key, 2u)
      << "key 1 was deleted after the checkpoint";
  EXPECT_TRUE((*c->Verify()).clean());
}

TEST(StoreTest, ConfigurationMismatchIsRefusedWithBothValues) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  CollectionConfig config = Config(384, Metric::kCos);
  config.model_id = "all-MiniLM-L6-v2";
  ASSERT_TRUE(store->CreateCollection("docs", config).ok());

  auto wrong_dims = store->OpenCollection("docs", Config(768, Metric::kCos));
  ASSERT_FALSE(wrong_dims.ok());
  EXPECT_EQ(wrong_dims.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(wrong_dims.status().message(), HasSubstr("dimensions is 384 in the store, 768"));

  CollectionConfig other_model = config;
  other_model.model_id = "bge-small";
  auto wrong_model = store->OpenCollection("docs", other_model);
  ASSERT_FALSE(wrong_model.ok());
  EXPECT_THAT(wrong_model.status().message(), HasSubstr("all-MiniLM-L6-v2"));
  EXPECT_THAT(wrong_model.status().message(), HasSubstr("bge-small"));

  CollectionConfig same = config;
  same.expansion_search = 200;  // a search-time default may differ
  EXPECT_TRUE(store->OpenCollection("docs", same).ok());
}

TEST(StoreTest, DropRemovesRecordsAndFilesAndInvalidatesHandles) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  auto c = *store->CreateCollection("docs", Config(2, Metric::kL2sq));
  ASSERT_TRUE(c->Upsert({{1, "", "", "", {1, 2}}}).ok());
  ASSERT_TRUE(c->Checkpoint().ok());
  ASSERT_TRUE(std::filesystem::exists(dir.Join("indexes/1/1.usearch")));
  ASSERT_TRUE(store->DropCollection("docs").ok());
  EXPECT_FALSE(std::filesystem::exists(dir.Join("indexes/1")));
  EXPECT_EQ(c->Count().status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store->GetCollection("docs").status().code(), StatusCode::kNotFound);
  // A new collection of the same name starts empty, with a new id.
  auto again = *store->CreateCollection("docs", Config(2, Metric::kL2sq));
  EXPECT_EQ(*again->Count(), 0u);
  EXPECT_EQ((*again->Stats()).id, 2);
}

TEST(StoreTest, CollectionsAreIsolated) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  auto a = *store->CreateCollection("a", Config(2, Metric::kL2sq));
  auto b = *store->CreateCollection("b", Config(2, Metric::kL2sq));
  ASSERT_TRUE(a->Upsert({{1, "", "in a", "", {1, 1}}}).ok());
  EXPECT_FALSE((*b->Get({1}))[0].has_value());
  EXPECT_TRUE(b->Search(std::vector<float>{1, 1}, SearchOptions{})->empty());
  EXPECT_EQ(*b->Delete({1}), 0u);
  EXPECT_EQ(*a->Count(), 1u);
}

TEST(StoreTest, StatsReportTheActiveSimdKernel) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  auto c = *store->CreateCollection("docs", Config(64, Metric::kCos));
  auto stats = c->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_FALSE(stats->simd_kernel.empty());
  EXPECT_NE(stats->simd_kernel, "uninitialized");
  std::printf("[ simd     ] kernel=%s capabilities=%s\n", stats->simd_kernel.c_str(),
              SimdCapabilities().c_str());
}

}  // namespace
}  // namespace quiver

namespace quiver {
namespace {

TEST(CheckpointPolicyTest, DirtyCollectionIsCheckpointedAfterTheInterval) {
  testing::TempDir dir;
  StoreOptions options = testing::QuietOptions();
  options.checkpoint_interval_seconds = 1;
  options.checkpoint_every_changes = 0;
  auto store = std::move(Store::Open(dir.path(), options)).value();
  CollectionConfig config;
  config.dimensions = 2;
  auto c = *store->CreateCollection("docs", config);
  ASSERT_TRUE(c->Upsert({{1, "", "", "", {1, 2}}}).ok());
  EXPECT_EQ(c->Stats()->checkpoint_generation, 0u);
  EXPECT_EQ(c->Stats()->change_log_length, 1u);
  for (int i = 0; i < 50 && c->Stats()->checkpoint_generation == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(c->Stats()->checkpoint_generation, 1u);
  EXPECT_EQ(c->Stats()->change_log_length, 0u);
}

TEST(CheckpointPolicyTest, EveryNChangesCheckpointsAndTrimsTheLog) {
  testing::TempDir dir;
  StoreOptions options = testing::QuietOptions();
  options.checkpoint_every_changes = 100;
  auto store = std::move(Store::Open(dir.path(), options)).value();
  CollectionConfig config;
  config.dimensions = 4;
  auto c = *store->CreateCollection("docs", config);
  auto vectors = testing::ClusteredVectors(250, 4, 3);
  for (Key first = 0; first < 250; first += 50) {
    std::vector<float> part(vectors.begin() + first * 4, vectors.begin() + (first + 50) * 4);
    ASSERT_TRUE(c->Upsert(testing::MakeRecords(part, 4, first)).ok());
  }
  auto stats = *c->Stats();
  EXPECT_EQ(stats.checkpoint_generation, 2u) << "after 100 and 200 changes";
  EXPECT_EQ(stats.change_log_length, 50u) << "the log never grows past the policy";
}

}  // namespace
}  // namespace quiver

namespace quiver {
namespace {

TEST(LazyOpenTest, CollectionsAreRecoveredOnFirstUse) {
  testing::TempDir dir;
  CollectionConfig config;
  config.dimensions = 2;
  {
    auto store = std::move(Store::Open(dir.path(), testing::QuietOptions())).value();
    ASSERT_TRUE(store->CreateCollection("a", config).ok());
    auto b = *store->CreateCollection("b", config);
    ASSERT_TRUE(b->Upsert({{1, "", "", "", {1, 2}}}).ok());
  }
  std::vector<std::string> lines;
  StoreOptions options;
  options.open_collections_lazily = true;
  options.logger = [&](LogLevel, std::string_view line) { lines.emplace_back(line); };
  auto store = std::move(Store::Open(dir.path(), options)).value();
  auto listed = *store->ListCollections();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].name, "a");
  EXPECT_EQ(listed[1].config.dimensions, 2u);
  auto recovered = [&] {
    return std::count_if(lines.begin(), lines.end(), [](const std::string& l) {
      return l.find("changes replayed") != std::string::npos;
    });
  };
  EXPECT_EQ(recovered(), 0) << "listing recovers nothing";
  EXPECT_EQ(*(*store->GetCollection("b"))->Count(), 1u);
  EXPECT_EQ(recovered(), 1);
  EXPECT_TRUE(store->DropCollection("a").ok()) << "an unloaded collection can be dropped";
  EXPECT_EQ(store->ListCollections()->size(), 1u);
  EXPECT_EQ(store->CreateCollection("b", config).status().code(), StatusCode::kAlreadyExists);
}

}  // namespace
}  // namespace quiver

namespace quiver {
namespace {

TEST(CompactionTest, HeavyChurnIsCompactedAtTheNextCheckpoint) {
  testing::TempDir dir;
  std::vector<std::string> lines;
  StoreOptions options;
  options.logger = [&](LogLevel, std::string_view line) { lines.emplace_back(line); };
  auto store = std::move(Store::Open(dir.path(), options)).value();
  CollectionConfig config;
  config.dimensions = 8;
  auto c = *store->CreateCollection("docs", config);
  auto first = testing::ClusteredVectors(2000, 8, 1);
  auto second = testing::ClusteredVectors(2000, 8, 2);
  ASSERT_TRUE(c->Upsert(testing::MakeRecords(first, 8)).ok());
  ASSERT_TRUE(c->Checkpoint().ok());
  ASSERT_TRUE(c->Upsert(testing::MakeRecords(second, 8)).ok());  // replaces every vector
  ASSERT_TRUE(c->Checkpoint().ok());
  EXPECT_TRUE(std::any_of(lines.begin(), lines.end(), [](const std::string& l) {
    return l.find("compacted the index (2000 vectors; 2000 removed or replaced") !=
           std::string::npos;
  }));
  EXPECT_TRUE(c->Verify()->clean());
  auto m = *c->Search(std::vector<float>(second.begin() + 8 * 42, second.begin() + 8 * 43),
                      SearchOptions{});
  EXPECT_EQ(m[0].key, 42u);
  EXPECT_FLOAT_EQ(m[0].distance, 0.0f);
}

}  // namespace
}  // namespace quiver
