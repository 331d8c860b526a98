// Copyright (c) Quiver authors.
//
// White-box crash tests with the fault-injecting Env: every file operation of
// a checkpoint fails in turn (EIO and ENOSPC), and a power cut (dropping all
// unsynced data) happens at every checkpoint crash point. Afterwards the store
// must open, pass Verify, and hold every acknowledged record.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "common/test_util.h"
#include "env/fault_injection_env.h"
#include "quiver/quiver.h"
#include "util/crash_point.h"

namespace quiver {
namespace {

using ::quiver::testing::ClusteredVectors;
using ::quiver::testing::MakeRecords;
using ::quiver::testing::QuietOptions;
using ::quiver::testing::TempDir;
using Op = FaultInjectionEnv::Op;
using Error = FaultInjectionEnv::Error;

constexpr std::size_t kDims = 16;
constexpr std::size_t kRecords = 1500;

CollectionConfig Config() {
  CollectionConfig c;
  c.dimensions = kDims;
  c.metric = Metric::kL2sq;
  return c;
}

/// Opens `dir` with the default Env and checks I1, I2 and I7: every
/// acknowledged record is present and searchable, deleted keys stay deleted,
/// SQLite and the index agree.
void ExpectIntact(const std::string& dir, const std::vector<float>& base, std::size_t deleted) {
  auto store = Store::Open(dir, QuietOptions());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto c = *(*store)->GetCollection("docs");
  EXPECT_EQ(*c->Count(), kRecords - deleted);
  auto report = *c->Verify();
  EXPECT_TRUE(report.clean()) << ::testing::PrintToString(report.problems);
  for (Key key = 0; key < deleted; ++key) {
    EXPECT_FALSE((*c->Get({key}))[0].has_value()) << "deleted key " << key << " came back";
  }
  // The index holds the probe's exact vector (an exact search over the index
  // finds it at distance 0), and approximate search serves only live keys.
  // (Approximate top-1 is not asserted: the graph is built by two threads, so
  // which neighbours it reaches at the default ef varies from run to run.)
  const Key probe = kRecords - 1;
  const std::vector<float> query(base.begin() + probe * kDims, base.end());
  auto exact = *c->SearchExact(query.data(), 1, 1);
  ASSERT_FALSE(exact[0].empty());
  EXPECT_EQ(exact[0][0].key, probe);
  EXPECT_EQ(exact[0][0].distance, 0.0f);
  auto approximate = *c->Search(query, SearchOptions{});
  EXPECT_FALSE(approximate.empty());
  for (const Match& m : approximate) EXPECT_GE(m.key, deleted) << "deleted key " << m.key;
}

struct FaultCase {
  Op op;
  Error error;
  const char* name;
};

class CheckpointFaultTest : public ::testing::TestWithParam<FaultCase> {};

// Fails the 1st, 2nd, ... operation of one kind during a checkpoint that
// follows a first checkpoint and some deletes, until the checkpoint runs
// without reaching the armed operation.
TEST_P(CheckpointFaultTest, EveryFailureLeavesAUsableStore) {
  const FaultCase fault = GetParam();
  const std::vector<float> base = ClusteredVectors(kRecords, kDims, 21);
  int injected = 0;
  for (int n = 1; n <= 64; ++n) {
    TempDir dir;
    FaultInjectionEnv env(Env::Default());
    StoreOptions options = QuietOptions();
    options.env = &env;
    options.checkpoint_on_close = false;
    bool fired = false;
    {
      auto store = std::move(Store::Open(dir.path(), options)).value();
      auto c = *store->CreateCollection("docs", Config());
      ASSERT_TRUE(c->Upsert(MakeRecords(base, kDims)).ok());
      ASSERT_TRUE(c->Checkpoint().ok());
      ASSERT_TRUE(c->Delete({0, 1, 2}).ok());
      env.FailNth(fault.op, n, fault.error);
      Status s = c->Checkpoint();
      fired = env.Fired();
      if (fired && fault.op == Op::kRemove) {
        // Removing the superseded generation is best effort: the new
        // checkpoint is committed, and the next open removes the old file.
        ++injected;
        EXPECT_TRUE(s.ok()) << s.ToString();
      } else if (fired && fault.error == Error::kLie) {
        // The write "succeeded" without writing: the checkpoint must notice
        // the short file before it can be renamed into place.
        ++injected;
        EXPECT_FALSE(s.ok()) << "a short checkpoint file was accepted";
        EXPECT_THAT(s.message(), ::testing::HasSubstr("bytes after its writes reported"));
      } else if (fired) {
        ++injected;
        EXPECT_FALSE(s.ok()) << "an injected failure must be reported";
        EXPECT_THAT(s.message(), ::testing::HasSubstr("injected"));
        if (fault.op == Op::kSync || fault.op == Op::kRename || fault.op == Op::kSyncDir) {
          // fsyncgate: after a failed sync or rename the collection does not
          // pretend its files are safe; it refuses writes until reopened.
          Status w = c->Upsert(MakeRecords(ClusteredVectors(1, kDims, 5), kDims, 999999));
          EXPECT_EQ(w.code(), StatusCode::kFailedPrecondition) << w.ToString();
          EXPECT_FALSE(c->Stats()->fatal_error.empty());
        }
      } else {
        EXPECT_TRUE(s.ok()) << s.ToString();
      }
    }
    ExpectIntact(dir.path(), base, 3);
    if (!fired) break;
  }
  EXPECT_GT(injected, 0) << "the checkpoint never reached a " << fault.name << " operation";
  std::printf("[ faults   ] %s: %d injected, 0 violations\n", fault.name, injected);
}

INSTANTIATE_TEST_SUITE_P(AllOperations, CheckpointFaultTest,
                         ::testing::Values(FaultCase{Op::kOpenWrite, Error::kEIO, "open_EIO"},
                                           FaultCase{Op::kWrite, Error::kEIO, "write_EIO"},
                                           FaultCase{Op::kWrite, Error::kENOSPC, "write_ENOSPC"},
                                           FaultCase{Op::kWrite, Error::kLie, "write_lie"},
                                           FaultCase{Op::kFileSize, Error::kEIO, "size_EIO"},
                                           FaultCase{Op::kSync, Error::kEIO, "fsync_EIO"},
                                           FaultCase{Op::kSync, Error::kENOSPC, "fsync_ENOSPC"},
                                           FaultCase{Op::kRename, Error::kEIO, "rename_EIO"},
                                           FaultCase{Op::kRename, Error::kENOSPC, "rename_ENOSPC"},
                                           FaultCase{Op::kSyncDir, Error::kEIO, "dirsync_EIO"},
                                           FaultCase{Op::kRemove, Error::kEIO, "remove_EIO"}),
                         [](const auto& info) { return std::string(info.param.name); });

class PowerLossTest : public ::testing::TestWithParam<const char*> {
 protected:
  void TearDown() override { crash_point::DisarmAll(); }
};

// The process stops at a crash point and the machine loses power: everything
// not fsynced (file bytes, creations and renames not covered by a directory
// fsync) is lost. SQLite commits are durable (synchronous=FULL).
TEST_P(PowerLossTest, CutAtEachCheckpointStep) {
  const std::vector<float> base = ClusteredVectors(kRecords, kDims, 22);
  TempDir dir;
  FaultInjectionEnv env(Env::Default());
  StoreOptions options = QuietOptions();
  options.env = &env;
  options.checkpoint_on_close = false;
  {
    auto store = std::move(Store::Open(dir.path(), options)).value();
    auto c = *store->CreateCollection("docs", Config());
    ASSERT_TRUE(c->Upsert(MakeRecords(base, kDims)).ok());
    ASSERT_TRUE(c->Checkpoint().ok());
    ASSERT_TRUE(c->Delete({0, 1, 2, 3}).ok());
    crash_point::Arm(GetParam(), [](std::string_view point) {
      return Status::IOError("power cut at " + std::string(point));
    });
    EXPECT_FALSE(c->Checkpoint().ok());
    crash_point::DisarmAll();
  }
  ASSERT_TRUE(env.DropUnsyncedData().ok());
  ExpectIntact(dir.path(), base, 4);
}

INSTANTIATE_TEST_SUITE_P(AllPoints, PowerLossTest,
                         ::testing::ValuesIn(crash_point::kCheckpointPoints),
                         testing::CrashPointName());

// Without its directory fsync, a completed rename can be undone by a power
// cut. The harness must catch that: this proves the power-cut model has teeth.
TEST(PowerLossHarnessTest, UndoesRenamesThatWereNotDirSynced) {
  TempDir dir;
  FaultInjectionEnv env(Env::Default());
  auto f = *env.NewWritableFile(dir.Join("a.tmp"));
  ASSERT_TRUE(f->Append("data", 4).ok());
  ASSERT_TRUE(f->Sync().ok());
  ASSERT_TRUE(f->Close().ok());
  ASSERT_TRUE(env.SyncDir(dir.path()).ok());
  ASSERT_TRUE(env.RenameFile(dir.Join("a.tmp"), dir.Join("a")).ok());
  auto g = *env.NewWritableFile(dir.Join("b"));
  ASSERT_TRUE(g->Append("unsynced", 8).ok());
  ASSERT_TRUE(env.DropUnsyncedData().ok());
  EXPECT_FALSE(std::filesystem::exists(dir.Join("a")));
  EXPECT_TRUE(std::filesystem::exists(dir.Join("a.tmp")));
  EXPECT_FALSE(std::filesystem::exists(dir.Join("b"))) << "created after the last dir sync";
}

// A fault while open repairs a corrupt checkpoint: open still succeeds and
// serves everything from the rebuilt in-memory index.
TEST(OpenFaultTest, FailedRepairCheckpointStillServes) {
  const std::vector<float> base = ClusteredVectors(kRecords, kDims, 23);
  TempDir dir;
  {
    auto store = std::move(Store::Open(dir.path(), QuietOptions())).value();
    auto c = *store->CreateCollection("docs", Config());
    ASSERT_TRUE(c->Upsert(MakeRecords(base, kDims)).ok());
  }
  std::filesystem::resize_file(dir.Join("indexes/1/1.usearch"), 100);
  FaultInjectionEnv env(Env::Default());
  env.FailNth(Op::kSync, 1, Error::kEIO);
  StoreOptions options = QuietOptions();
  options.env = &env;
  options.checkpoint_on_close = false;
  {
    auto store = Store::Open(dir.path(), options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    EXPECT_TRUE(env.Fired());
    auto c = *(*store)->GetCollection("docs");
    EXPECT_EQ(c->Stats()->index_vectors, kRecords);
  }
  ExpectIntact(dir.path(), base, 0);
}

class OpenReadFaultTest : public ::testing::TestWithParam<FaultCase> {};

// Fails the 1st, 2nd, ... read-side operation of open (listing the index
// directory, sizing, opening and reading the checkpoint) on a store that has
// a checkpoint, changes after it to replay, and a leftover temp file. Open
// either fails with the injected error named, or serves every record (an
// unreadable checkpoint is rebuilt from SQLite, never half-loaded); a later
// open without faults finds the store intact.
TEST_P(OpenReadFaultTest, EveryFailureIsReportedOrSurvived) {
  const FaultCase fault = GetParam();
  const std::vector<float> base = ClusteredVectors(kRecords, kDims, 29);
  TempDir golden;
  {
    StoreOptions options = QuietOptions();
    options.checkpoint_on_close = false;
    auto store = std::move(Store::Open(golden.path(), options)).value();
    auto c = *store->CreateCollection("docs", Config());
    ASSERT_TRUE(c->Upsert(MakeRecords(base, kDims)).ok());
    ASSERT_TRUE(c->Checkpoint().ok());
    ASSERT_TRUE(c->Delete({0, 1, 2}).ok());  // replayed at open
  }
  std::filesystem::copy_file(golden.Join("indexes/1/1.usearch"),
                             golden.Join("indexes/1/2.usearch.tmp"));  // a leftover
  // How many operations of this kind a clean open does; a checkpoint is read
  // in thousands of small reads, so past 24 of them the sweep takes the first
  // eight, sixteen spread over the rest, and the last.
  int total = 0;
  {
    TempDir dir;
    std::filesystem::copy(golden.path(), dir.path(),
                          std::filesystem::copy_options::recursive |
                              std::filesystem::copy_options::overwrite_existing);
    FaultInjectionEnv counter(Env::Default());
    StoreOptions options = QuietOptions();
    options.env = &counter;
    options.checkpoint_on_close = false;
    auto store = std::move(Store::Open(dir.path(), options)).value();
    ASSERT_TRUE(store->GetCollection("docs").ok());
    total = counter.Count(fault.op);
  }
  std::set<int> points;
  for (int n = 1; n <= total; ++n) {
    if (total <= 24 || n <= 8 || n == total || n % std::max(1, total / 16) == 0) points.insert(n);
  }
  int injected = 0, failed_opens = 0;
  for (int n : points) {
    TempDir dir;
    std::filesystem::copy(golden.path(), dir.path(),
                          std::filesystem::copy_options::recursive |
                              std::filesystem::copy_options::overwrite_existing);
    FaultInjectionEnv env(Env::Default());
    env.FailNth(fault.op, n, fault.error);
    StoreOptions options = QuietOptions();
    options.env = &env;
    options.checkpoint_on_close = false;
    {
      auto store = Store::Open(dir.path(), options);
      Result<std::shared_ptr<Collection>> c =
          store.ok() ? (*store)->GetCollection("docs")
                     : Result<std::shared_ptr<Collection>>(store.status());
      ASSERT_TRUE(env.Fired()) << "a clean open did " << total << " " << fault.name
                               << " operations, this one fewer than " << n;
      ++injected;
      if (!c.ok()) {
        ++failed_opens;
        EXPECT_THAT(c.status().message(), ::testing::HasSubstr("injected"))
            << "a failed open must say why: " << c.status().ToString();
      } else {
        EXPECT_EQ((*c)->Stats()->index_vectors, kRecords - 3)
            << "open survived the fault, so it must serve every record";
        EXPECT_TRUE((*c)->Verify()->clean());
      }
    }
    ExpectIntact(dir.path(), base, 3);
  }
  EXPECT_GT(injected, 0) << "open never reached a " << fault.name << " operation";
  std::printf(
      "[ faults   ] open %s: %d of %d operations failed in turn (%d failed opens, the rest "
      "served), 0 violations\n",
      fault.name, injected, total, failed_opens);
}

INSTANTIATE_TEST_SUITE_P(OpenOperations, OpenReadFaultTest,
                         ::testing::Values(FaultCase{Op::kListDir, Error::kEIO, "list_EIO"},
                                           FaultCase{Op::kFileSize, Error::kEIO, "size_EIO"},
                                           FaultCase{Op::kOpenRead, Error::kEIO, "open_read_EIO"},
                                           FaultCase{Op::kRead, Error::kEIO, "read_EIO"},
                                           FaultCase{Op::kRemove, Error::kEIO,
                                                     "remove_leftover_EIO"}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace quiver
