// Copyright (c) Quiver authors.
//
// Searches, writes, deletes and checkpoints on one collection at once. Run it
// under ThreadSanitizer with the tsan preset (scripts/test.sh does ASan).

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "common/test_util.h"
#include "quiver/quiver.h"

namespace quiver {
namespace {

using ::quiver::testing::ClusteredVectors;
using ::quiver::testing::MakeRecords;
using ::quiver::testing::QuietOptions;
using ::quiver::testing::TempDir;

TEST(ConcurrencyTest, SearchesWritesAndCheckpointsInterleave) {
  constexpr std::size_t kDims = 16, kWriters = 2, kBatches = 20, kBatch = 50;
  TempDir dir;
  StoreOptions options = QuietOptions();
  options.checkpoint_every_changes = 700;  // checkpoints happen while others run
  options.max_concurrent_searches = 2;     // fewer contexts than searchers: they must wait
  auto store = std::move(Store::Open(dir.path(), options)).value();
  CollectionConfig config;
  config.dimensions = kDims;
  config.metric = Metric::kL2sq;
  auto c = *store->CreateCollection("docs", config);

  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (std::size_t w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      for (std::size_t b = 0; b < kBatches; ++b) {
        const Key first = (w * kBatches + b) * kBatch;
        auto vectors = ClusteredVectors(kBatch, kDims, static_cast<std::uint32_t>(first));
        if (!c->Upsert(MakeRecords(vectors, kDims, first)).ok()) ++failures;
        if (b % 4 == 3 && !c->Delete({first}).ok()) ++failures;  // delete the batch's first key
      }
    });
  }
  for (int s = 0; s < 3; ++s) {
    threads.emplace_back([&, s] {
      auto queries = ClusteredVectors(20, kDims, 1000 + s);
      while (!done) {
        auto r = c->Search(queries.data(), 20, SearchOptions{});
        if (!r.ok()) ++failures;
        if (!c->Stats().ok()) ++failures;
      }
    });
  }
  for (std::size_t w = 0; w < kWriters; ++w) threads[w].join();
  done = true;
  for (std::size_t t = kWriters; t < threads.size(); ++t) threads[t].join();

  EXPECT_EQ(failures.load(), 0);
  const std::uint64_t deletes = kWriters * (kBatches / 4);
  EXPECT_EQ(*c->Count(), kWriters * kBatches * kBatch - deletes);
  auto report = *c->Verify();
  EXPECT_TRUE(report.clean()) << ::testing::PrintToString(report.problems);

  // Every acknowledged record is found as its own nearest neighbour.
  auto vectors = ClusteredVectors(kBatch, kDims, static_cast<std::uint32_t>(kBatch));
  auto m = *c->Search(std::vector<float>(vectors.begin() + 5 * kDims, vectors.begin() + 6 * kDims),
                      SearchOptions{});
  EXPECT_EQ(m[0].key, kBatch + 5);
}

}  // namespace
}  // namespace quiver
