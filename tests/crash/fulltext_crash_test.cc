// Copyright (c) Quiver authors.
//
// The full-text index across crashes. It lives in the records' transaction
// (triggers on the records table), so a process that dies anywhere leaves
// index and records in agreement:
//   - a write that dies before its commit changes neither (I9);
//   - a write that committed is in both after a kill -9 and the reopen that
//     replays the HNSW index from the change log (I1, I2), and a hybrid
//     search then finds it from both sides.
// Each crash is a real process death (_exit at a named crash point, or the
// end of a child that never closes its store); the parent reopens and checks
// against its own model of the records, then runs Verify.

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "common/test_embedder.h"
#include "common/test_util.h"
#include "quiver/quiver.h"
#include "util/crash_point.h"

namespace quiver {
namespace {

using ::quiver::testing::BagOfWordsEmbedder;
using ::quiver::testing::BagOfWordsResolver;
using ::quiver::testing::TempDir;

const std::vector<std::string> kWords = {"red", "green", "blue", "apple", "lime", "plum"};

StoreOptions Options() {
  StoreOptions options = ::quiver::testing::QuietOptions();
  options.embedder_resolver = BagOfWordsResolver();
  return options;
}

/// Runs `body` in a child process and expects it to die with exit code 9.
void RunChildThatDies(const std::function<void()>& body) {
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    body();
    _exit(4);  // the crash point was not reached
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 9) << "the child did not die at its crash point";
}

bool HasWord(const std::string& text, const std::string& word) {
  std::istringstream in(text);
  std::string token;
  while (in >> token) {
    if (token == word) return true;
  }
  return false;
}

/// Records and full-text index both equal `model` (key -> text), and Verify is clean.
void ExpectStoreEquals(Collection& c, const std::map<Key, std::string>& model) {
  std::vector<Key> keys;
  for (Key k = 0; k < 100; ++k) keys.push_back(k);
  auto got = c.Get(keys);
  ASSERT_TRUE(got.ok());
  for (Key k = 0; k < 100; ++k) {
    auto it = model.find(k);
    ASSERT_EQ((*got)[k].has_value(), it != model.end()) << "key " << k;
    if (it != model.end()) EXPECT_EQ((*got)[k]->text, it->second) << "key " << k;
  }
  for (const std::string& word : kWords) {
    std::set<Key> expected;
    for (const auto& [key, text] : model) {
      if (HasWord(text, word)) expected.insert(key);
    }
    TextSearchOptions options;
    options.mode = TextSearchMode::kFullText;
    options.search.k = kMaxSearchK;
    auto found = c.SearchText({word}, options);
    ASSERT_TRUE(found.ok()) << found.status().ToString();
    std::set<Key> keys_found;
    for (const Match& m : (*found)[0]) keys_found.insert(m.key);
    EXPECT_EQ(keys_found, expected) << "word '" << word << "'";
  }
  auto report = c.Verify();
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->clean()) << ::testing::PrintToString(report->problems);
}

/// A write that the test runs once in a child that dies before its commit,
/// then for real; `apply` updates the model as the write would.
struct CrashWrite {
  std::string point;
  std::function<Status(Collection&)> write;
  std::function<void(std::map<Key, std::string>*)> apply;
};

class FullTextCrashTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto store = std::move(Store::Open(dir_.path(), Options())).value();
    auto c = *store->CreateCollection("docs", ConfigForEmbedder(BagOfWordsEmbedder().info()));
    std::vector<Record> records;
    for (Key k = 0; k < 60; ++k) {
      const std::string text = kWords[k % 3] + " " + kWords[3 + k % 4 % 3];
      records.push_back({k, "", text, k % 2 ? R"({"odd": true})" : "{}", {}});  // embedded
      model_[k] = text;
    }
    ASSERT_TRUE(c->Upsert(records).ok());
    ASSERT_TRUE(store->Close().ok());
  }

  CrashWrite Write() const {
    const std::string point = GetParam();
    if (point == "upsert.before_commit") {
      return {point,
              [](Collection& c) {
                std::vector<Record> records;
                for (Key k = 50; k < 70; ++k)
                  records.push_back({k, "", "plum plum blue", "{}", {}});
                return c.Upsert(records);
              },
              [](std::map<Key, std::string>* model) {
                for (Key k = 50; k < 70; ++k) (*model)[k] = "plum plum blue";
              }};
    }
    if (point == "delete.before_commit") {
      return {point,
              [](Collection& c) {
                return c.Delete({1, 2, 3, 40, 99}).status();
              },
              [](std::map<Key, std::string>* model) {
                for (Key k : {1, 2, 3, 40}) model->erase(k);
              }};
    }
    return {point, [](Collection& c) { return c.DeleteWhere(R"({"odd": true})").status(); },
            [](std::map<Key, std::string>* model) {
              for (Key k = 1; k < 60; k += 2) model->erase(k);
            }};
  }

  TempDir dir_;
  std::map<Key, std::string> model_;
};

TEST_P(FullTextCrashTest, AWriteThatDiesBeforeItsCommitChangesNeitherRecordsNorIndex) {
  const CrashWrite write = Write();
  RunChildThatDies([&] {
    auto store = Store::Open(dir_.path(), Options());
    if (!store.ok()) _exit(2);
    auto c = (*store)->GetCollection("docs");
    if (!c.ok()) _exit(3);
    crash_point::Arm(write.point, [](std::string_view) -> Status { _exit(9); });
    (void)write.write(**c);
  });
  auto store = std::move(Store::Open(dir_.path(), Options())).value();
  auto c = *store->GetCollection("docs");
  ExpectStoreEquals(*c, model_);
  // The same write, uninterrupted, reaches both.
  ASSERT_TRUE(write.write(*c).ok());
  write.apply(&model_);
  ExpectStoreEquals(*c, model_);
}

INSTANTIATE_TEST_SUITE_P(EveryWrite, FullTextCrashTest,
                         ::testing::Values("upsert.before_commit", "delete.before_commit",
                                           "delete_where.before_commit"),
                         ::quiver::testing::CrashPointName());

TEST(FullTextKillTest, CommittedWritesAreFoundByBothSidesAfterAKillAndReplay) {
  TempDir dir;
  {
    auto store = std::move(Store::Open(dir.path(), Options())).value();
    ASSERT_TRUE(
        store->CreateCollection("docs", ConfigForEmbedder(BagOfWordsEmbedder().info())).ok());
    ASSERT_TRUE(store->Close().ok());
  }
  std::map<Key, std::string> model;
  for (Key k = 0; k < 40; ++k) model[k] = kWords[k % kWords.size()] + " " + kWords[(k / 6) % 3];
  for (Key k : {5, 11, 17}) model.erase(k);
  // The child commits its writes and dies without closing: no checkpoint, so
  // the reopen rebuilds the HNSW index from the change log.
  RunChildThatDies([&] {
    auto store = Store::Open(dir.path(), Options());
    if (!store.ok()) _exit(2);
    auto c = (*store)->GetCollection("docs");
    if (!c.ok()) _exit(3);
    std::vector<Record> records;
    for (Key k = 0; k < 40; ++k) {
      records.push_back({k, "", kWords[k % kWords.size()] + " " + kWords[(k / 6) % 3], "{}", {}});
    }
    if (!(*c)->Upsert(records).ok()) _exit(5);
    if (!(*c)->Delete({5, 11, 17}).ok()) _exit(6);
    _exit(9);
  });
  auto store = std::move(Store::Open(dir.path(), Options())).value();
  auto c = *store->GetCollection("docs");
  ExpectStoreEquals(*c, model);
  // Hybrid: "apple red" is record 3's whole text, so the vector side finds it
  // at distance 0 and BM25 ranks it first too.
  TextSearchOptions hybrid;
  hybrid.mode = TextSearchMode::kHybrid;
  hybrid.search.k = 5;
  auto found = c->SearchText({"apple red"}, hybrid);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  ASSERT_FALSE((*found)[0].empty());
  EXPECT_EQ((*found)[0][0].key, 3u);
  EXPECT_NEAR((*found)[0][0].distance, 0.0, 1e-5);
  for (const Match& m : (*found)[0]) EXPECT_TRUE(model.count(m.key)) << m.key;
}

}  // namespace
}  // namespace quiver
