// Copyright (c) Quiver authors.
//
// Recovery: torn, corrupt, foreign and missing checkpoints are detected and
// rebuilt from SQLite; a crash at any step of a checkpoint loses nothing.
// (The kill -9 loop is in tests/crash/kill_test.cc.)

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <mutex>
#include <random>
#include <set>

#include "common/test_util.h"
#include "quiver/quiver.h"
#include "util/crash_point.h"

namespace quiver {
namespace {

using ::quiver::testing::ClusteredVectors;
using ::quiver::testing::MakeRecords;
using ::quiver::testing::TempDir;
using ::testing::HasSubstr;

constexpr std::size_t kDims = 16;
constexpr std::size_t kRecords = 2000;

/// Captures log lines so tests can assert what the store said.
struct CapturedLog {
  std::mutex mu;
  std::vector<std::string> lines;
  StoreOptions Options() {
    StoreOptions o;
    o.logger = [this](LogLevel, std::string_view line) {
      std::lock_guard<std::mutex> lock(mu);
      lines.emplace_back(line);
    };
    return o;
  }
  bool Contains(const std::string& needle) {
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& l : lines) {
      if (l.find(needle) != std::string::npos) return true;
    }
    return false;
  }
};

CollectionConfig Config() {
  CollectionConfig c;
  c.dimensions = kDims;
  c.metric = Metric::kL2sq;
  return c;
}

class RecoveryTest : public ::testing::Test {
 protected:
  void SetUp() override { base_ = ClusteredVectors(kRecords, kDims, 11); }
  void TearDown() override { crash_point::DisarmAll(); }

  /// Creates "docs" with kRecords records and one checkpoint, then closes.
  void Populate() {
    auto store = Store::Open(dir_.path(), log_.Options());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    auto c = (*store)->CreateCollection("docs", Config());
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE((*c)->Upsert(MakeRecords(base_, kDims)).ok());
    ASSERT_TRUE((*store)->Close().ok());
  }

  /// Reopens and checks that every record is present, searchable and that
  /// SQLite and the index agree (I1, I7).
  void ExpectAllRecordsServed(std::size_t expected = kRecords) {
    auto store = Store::Open(dir_.path(), log_.Options());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    auto c = *(*store)->GetCollection("docs");
    EXPECT_EQ(*c->Count(), expected);
    auto report = c->Verify();
    ASSERT_TRUE(report.ok());
    EXPECT_TRUE(report->clean()) << ::testing::PrintToString(report->problems);
    EXPECT_EQ(report->index_vectors_checked, expected);
    for (Key key : {Key{0}, Key{777}, Key{kRecords - 1}}) {
      std::vector<float> q(base_.begin() + key * kDims, base_.begin() + (key + 1) * kDims);
      auto m = c->Search(q, SearchOptions{});
      ASSERT_TRUE(m.ok());
      EXPECT_EQ((*m)[0].key, key);
    }
  }

  std::string CheckpointFile(int collection_id = 1, int generation = 1) {
    return dir_.Join("indexes/" + std::to_string(collection_id) + "/" + std::to_string(generation) +
                     ".usearch");
  }

  TempDir dir_;
  CapturedLog log_;
  std::vector<float> base_;
};

TEST_F(RecoveryTest, TornCheckpointIsDetectedAndRebuilt) {
  Populate();
  const auto size = std::filesystem::file_size(CheckpointFile());
  std::filesystem::resize_file(CheckpointFile(), size / 2);
  ExpectAllRecordsServed();
  EXPECT_TRUE(log_.Contains("unusable")) << "a rebuilt index must be logged loudly";
}

TEST_F(RecoveryTest, FlippedBitInCheckpointIsDetectedAndRebuilt) {
  Populate();
  {
    std::fstream f(CheckpointFile(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(4096);
    char byte = 0;
    f.read(&byte, 1);
    byte ^= 0x10;
    f.seekp(4096);
    f.write(&byte, 1);
  }
  ExpectAllRecordsServed();
  EXPECT_TRUE(log_.Contains("checksum mismatch"));
}

TEST_F(RecoveryTest, ZeroedPageInCheckpointIsDetectedAndRebuilt) {
  Populate();
  {
    std::fstream f(CheckpointFile(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(0);
    std::string zeros(4096, '\0');
    f.write(zeros.data(), zeros.size());
  }
  ExpectAllRecordsServed();
}

TEST_F(RecoveryTest, ForeignCheckpointIsDetectedAndRebuilt) {
  Populate();
  {
    // Another collection's checkpoint, copied over this one's.
    auto store = *Store::Open(dir_.path(), log_.Options());
    auto other = *store->CreateCollection("other", Config());
    ASSERT_TRUE(other->Upsert(MakeRecords(ClusteredVectors(50, kDims, 99), kDims)).ok());
    ASSERT_TRUE(store->Close().ok());
  }
  std::filesystem::copy_file(CheckpointFile(2, 1), CheckpointFile(1, 1),
                             std::filesystem::copy_options::overwrite_existing);
  ExpectAllRecordsServed();
  EXPECT_TRUE(log_.Contains("foreign"));
}

TEST_F(RecoveryTest, MissingCheckpointIsRebuilt) {
  Populate();
  std::filesystem::remove(CheckpointFile());
  ExpectAllRecordsServed();
}

TEST_F(RecoveryTest, LeftoverTemporaryAndStaleFilesAreRemovedOnOpen) {
  Populate();
  std::ofstream(CheckpointFile(1, 2) + ".tmp") << "half-written checkpoint";
  std::ofstream(CheckpointFile(1, 7)) << "never committed";
  ExpectAllRecordsServed();
  EXPECT_FALSE(std::filesystem::exists(CheckpointFile(1, 2) + ".tmp"));
  EXPECT_FALSE(std::filesystem::exists(CheckpointFile(1, 7)));
  EXPECT_TRUE(std::filesystem::exists(CheckpointFile(1, 1)));
}

// Cleanup removes only names Quiver writes (util/layout.h): a user's file in an
// index directory, or a directory under indexes/ that is not a collection id,
// is not Quiver's to delete; an index directory of a dropped collection is.
TEST_F(RecoveryTest, CleanupLeavesNamesQuiverDoesNotWrite) {
  Populate();
  const std::string index_dir = dir_.Join("indexes/1");
  std::ofstream(index_dir + "/notes.txt") << "mine";
  std::ofstream(index_dir + "/backup.usearch") << "not a generation";
  std::ofstream(index_dir + "/007.usearch") << "leading zeros: not a name Quiver writes";
  std::filesystem::create_directories(dir_.Join("indexes/scratch"));
  std::filesystem::create_directories(dir_.Join("indexes/99"));  // no collection 99
  ExpectAllRecordsServed();
  EXPECT_TRUE(std::filesystem::exists(index_dir + "/notes.txt"));
  EXPECT_TRUE(std::filesystem::exists(index_dir + "/backup.usearch"));
  EXPECT_TRUE(std::filesystem::exists(index_dir + "/007.usearch"));
  EXPECT_TRUE(std::filesystem::exists(dir_.Join("indexes/scratch")));
  EXPECT_FALSE(std::filesystem::exists(dir_.Join("indexes/99")));
  EXPECT_TRUE(log_.Contains("indexes/scratch: not an index directory of this store"));
}

// A crash at each step of a checkpoint: the checkpoint fails there, the store
// is abandoned without another checkpoint, and the reopened store serves
// every committed record, including the changes the failed checkpoint covered.
class CheckpointCrashTest : public RecoveryTest,
                            public ::testing::WithParamInterface<const char*> {};

TEST_P(CheckpointCrashTest, EveryCommittedRecordSurvives) {
  Populate();  // generation 1 holds records 0..kRecords-1
  {
    StoreOptions options = log_.Options();
    options.checkpoint_on_close = false;  // the "crash": nothing more is written
    auto store = *Store::Open(dir_.path(), options);
    auto c = *store->GetCollection("docs");
    ASSERT_TRUE(c->Delete({0, 1}).ok());
    std::vector<float> extra(kDims, 100.0f);
    ASSERT_TRUE(c->Upsert({{kRecords + 5, "", "late", "", extra}}).ok());
    crash_point::Arm(GetParam(), [](std::string_view point) {
      return Status::IOError("simulated crash at " + std::string(point));
    });
    Status s = c->Checkpoint();
    EXPECT_FALSE(s.ok());
    EXPECT_THAT(s.message(), HasSubstr(GetParam()));
    crash_point::DisarmAll();
  }
  auto store = *Store::Open(dir_.path(), log_.Options());
  auto c = *store->GetCollection("docs");
  EXPECT_EQ(*c->Count(), kRecords - 1);
  EXPECT_FALSE((*c->Get({0}))[0].has_value()) << "a delete must never come back (I2)";
  auto report = *c->Verify();
  EXPECT_TRUE(report.clean()) << ::testing::PrintToString(report.problems);
  auto late = *c->Search(std::vector<float>(kDims, 100.0f), SearchOptions{});
  EXPECT_EQ(late[0].key, kRecords + 5);
  // Exactly one checkpoint file remains: the one the manifest names.
  std::size_t files = 0;
  for (auto& entry : std::filesystem::directory_iterator(dir_.Join("indexes/1"))) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 1u);
}

INSTANTIATE_TEST_SUITE_P(AllPoints, CheckpointCrashTest,
                         ::testing::ValuesIn(crash_point::kCheckpointPoints),
                         testing::CrashPointName());

}  // namespace
}  // namespace quiver
