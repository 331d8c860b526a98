// Copyright (c) Quiver authors.
//
// Operator actions on a live store: rebuild with new index parameters, and
// backup while writes continue.

#include <gmock/gmock.h>
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

constexpr std::size_t kDims = 16;

CollectionConfig Config() {
  CollectionConfig c;
  c.dimensions = kDims;
  c.metric = Metric::kCos;
  return c;
}

TEST(RebuildTest, NewParametersAreSwappedInWhileSearchesContinue) {
  TempDir dir;
  auto base = ClusteredVectors(3000, kDims, 8);
  {
    auto store = std::move(Store::Open(dir.path(), QuietOptions())).value();
    auto c = *store->CreateCollection("docs", Config());
    ASSERT_TRUE(c->Upsert(MakeRecords(base, kDims)).ok());

    std::atomic<bool> done{false};
    std::atomic<int> failed_searches{0};
    std::thread searcher([&] {
      std::vector<float> q(base.begin(), base.begin() + kDims);
      while (!done) {
        auto m = c->Search(q, SearchOptions{});
        if (!m.ok() || m->empty() || (*m)[0].key != 0) ++failed_searches;
      }
    });
    RebuildOptions options;
    options.scalar = ScalarKind::kF16;
    options.connectivity = 32;
    std::uint64_t last_progress = 0;
    options.progress = [&](std::uint64_t done_count, std::uint64_t total) {
      EXPECT_EQ(total, 3000u);
      last_progress = done_count;
    };
    Status s = c->Rebuild(options);
    done = true;
    searcher.join();
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(last_progress, 3000u);
    EXPECT_EQ(failed_searches.load(), 0) << "the old index serves until the swap";
    EXPECT_EQ(c->config().scalar, ScalarKind::kF16);
    EXPECT_EQ(c->config().connectivity, 32u);
    EXPECT_TRUE(c->Verify()->clean());

    RebuildOptions bad;
    bad.connectivity = 1;
    EXPECT_EQ(c->Rebuild(bad).code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(c->config().connectivity, 32u);
  }
  // The new configuration and its checkpoint are what the store reopens with.
  std::vector<std::string> lines;
  StoreOptions options;
  options.logger = [&](LogLevel, std::string_view line) { lines.emplace_back(line); };
  auto store = std::move(Store::Open(dir.path(), options)).value();
  auto c = *store->GetCollection("docs");
  EXPECT_EQ(c->config().scalar, ScalarKind::kF16);
  EXPECT_EQ(c->Stats()->index_vectors, 3000u);
  for (const auto& line : lines)
    EXPECT_THAT(line, ::testing::Not(::testing::HasSubstr("unusable")));
  auto m = *c->Search(std::vector<float>(base.begin() + 7 * kDims, base.begin() + 8 * kDims),
                      SearchOptions{});
  EXPECT_EQ(m[0].key, 7u);
}

TEST(BackupTest, CopyWhileWritingHoldsEverythingCommittedBefore) {
  TempDir dir, backup_root;
  const std::string backup = backup_root.Join("copy");
  auto base = ClusteredVectors(2000, kDims, 9);
  auto store = std::move(Store::Open(dir.path(), QuietOptions())).value();
  auto c = *store->CreateCollection("docs", Config());
  ASSERT_TRUE(c->Upsert(MakeRecords(base, kDims)).ok());
  ASSERT_TRUE(c->Checkpoint().ok());
  ASSERT_TRUE(c->Delete({0}).ok());  // in the log, not in the checkpoint

  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (Key k = 10000; !done && k < 20000; k += 10) {
      auto v = ClusteredVectors(10, kDims, static_cast<std::uint32_t>(k));
      ASSERT_TRUE(c->Upsert(MakeRecords(v, kDims, k)).ok());
    }
  });
  Status s = store->Backup(backup);
  done = true;
  writer.join();
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(store->Backup(backup).code(), StatusCode::kAlreadyExists);

  auto copy = Store::Open(backup, QuietOptions());
  ASSERT_TRUE(copy.ok()) << copy.status().ToString();
  auto cc = *(*copy)->GetCollection("docs");
  auto report = *cc->Verify();
  EXPECT_TRUE(report.clean()) << ::testing::PrintToString(report.problems);
  EXPECT_GE(*cc->Count(), 1999u);
  EXPECT_FALSE((*cc->Get({0}))[0].has_value()) << "the delete before the backup is in the copy";
  EXPECT_TRUE((*cc->Get({1999}))[0].has_value());
}

}  // namespace
}  // namespace quiver
