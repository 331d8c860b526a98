// Copyright (c) Quiver authors.
//
// Store properties (Store::SetProperties / GetProperties) and the insertion
// order of Collection::Scan (ScanOrder::kInsertion, ScanOptions::keys), end to
// end on a real directory: what they keep across reopen, backup and a crash
// before the commit, how they refuse bad input, and how a store made before
// either of them opens.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sqlite3.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "common/sqlite_util.h"
#include "common/test_embedder.h"
#include "common/test_util.h"
#include "quiver/quiver.h"
#include "util/crash_point.h"

namespace quiver {
namespace {

using ::quiver::testing::QuietOptions;
using ::quiver::testing::RunSql;
using ::quiver::testing::TempDir;
using ::testing::HasSubstr;

std::unique_ptr<Store> OpenStore(const std::string& dir, bool read_only = false) {
  StoreOptions options = QuietOptions();
  options.read_only = read_only;
  auto store = Store::Open(dir, options);
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(store).value() : nullptr;
}

/// The properties with `prefix` as "key=value" strings.
std::vector<std::string> Listed(Store& store, const std::string& prefix) {
  auto properties = store.GetProperties(prefix);
  EXPECT_TRUE(properties.ok()) << properties.status().ToString();
  std::vector<std::string> out;
  if (!properties.ok()) return out;
  for (const Property& p : *properties) out.push_back(p.key + "=" + p.value);
  return out;
}

// --- Properties -------------------------------------------------------------------------

TEST(PropertiesTest, SetGetDeleteByPrefixAndReopen) {
  TempDir dir;
  {
    auto store = OpenStore(dir.path());
    EXPECT_TRUE(Listed(*store, "").empty());
    ASSERT_TRUE(store
                    ->SetProperties({{"app/b", "2"},
                                     {"app/a", "1"},
                                     {"other/x", std::string("bin\0ary", 7)},
                                     {"app", "top"},
                                     {"apq", "next"}})
                    .ok());
    // Ordered by key; the prefix is a plain byte prefix.
    EXPECT_EQ(Listed(*store, "app/"), (std::vector<std::string>{"app/a=1", "app/b=2"}));
    EXPECT_EQ(Listed(*store, "app"), (std::vector<std::string>{"app=top", "app/a=1", "app/b=2"}));
    EXPECT_EQ(Listed(*store, "").size(), 5u);
    // Overwrite, delete, delete a key that is not there: one call.
    ASSERT_TRUE(
        store->SetProperties({{"app/a", "one"}, {"app/b", std::nullopt}, {"nothing", std::nullopt}})
            .ok());
    EXPECT_EQ(Listed(*store, "app/"), (std::vector<std::string>{"app/a=one"}));
    ASSERT_TRUE(store->SetProperties({}).ok());
    ASSERT_TRUE(store->Close().ok());
  }
  auto store = OpenStore(dir.path(), /*read_only=*/true);
  EXPECT_EQ(Listed(*store, "app/"), (std::vector<std::string>{"app/a=one"}));
  auto binary = store->GetProperties("other/");
  ASSERT_TRUE(binary.ok());
  ASSERT_EQ(binary->size(), 1u);
  EXPECT_EQ(binary->front().value, std::string("bin\0ary", 7)) << "values are bytes";
  EXPECT_EQ(store->SetProperties({{"app/c", "3"}}).code(), StatusCode::kNotSupported);
}

TEST(PropertiesTest, ABadChangeWritesNothingAndNamesTheField) {
  TempDir dir;
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store->SetProperties({{"kept", "old"}}).ok());
  struct Case {
    std::vector<PropertyChange> changes;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{{"kept", "new"}, {"", "x"}}, "changes[1].key: 0 bytes; expected 1 to 1024"},
      {{{"kept", "new"}, {std::string(1025, 'k'), "x"}}, "changes[1].key: 1025 bytes"},
      {{{"kept", "new"}, {"tab\there", "x"}}, "changes[1].key: control character at byte 3"},
      {{{"kept", "new"}, {"bad\xff", "x"}}, "changes[1].key: invalid UTF-8 at byte 3"},
      {{{"kept", "new"}, {"kept", std::nullopt}}, "changes[1].key: 'kept' is changed twice"},
      {{{"kept", "new"}, {"big", std::string(kMaxPropertyValueBytes + 1, 'v')}},
       "changes[1].value: 16777217 bytes; expected at most 16777216"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.message);
    Status status = store->SetProperties(c.changes);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
    EXPECT_THAT(status.message(), HasSubstr(c.message));
  }
  std::vector<PropertyChange> too_many(kMaxBatchSize + 1, PropertyChange{"k", "v"});
  EXPECT_THAT(store->SetProperties(too_many).message(), HasSubstr("changes: 100001 changes"));
  EXPECT_EQ(Listed(*store, ""), (std::vector<std::string>{"kept=old"}));
  // A key of multi-byte UTF-8 is fine, and so is the largest value.
  ASSERT_TRUE(store->SetProperties({{"clé/日本", std::string(kMaxPropertyValueBytes, 'v')}}).ok());
  EXPECT_EQ(store->GetProperties("clé/")->front().value.size(), kMaxPropertyValueBytes);
  EXPECT_THAT(store->GetProperties("\x01").status().message(),
              HasSubstr("prefix: control character at byte 0"));
  ASSERT_TRUE(store->Close().ok());
  EXPECT_EQ(store->SetProperties({{"a", "b"}}).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->GetProperties("").status().code(), StatusCode::kFailedPrecondition);
}

TEST(PropertiesTest, ACrashBeforeTheCommitLeavesNoneOfTheChanges) {
  TempDir dir;
  {
    auto store = OpenStore(dir.path());
    ASSERT_TRUE(store->SetProperties({{"a", "1"}, {"b", "1"}}).ok());
    crash_point::Arm("properties.before_commit",
                     [](std::string_view) { return Status::IOError("injected crash"); });
    Status status = store->SetProperties({{"a", "2"}, {"b", std::nullopt}, {"c", "2"}});
    crash_point::DisarmAll();
    EXPECT_THAT(status.message(), HasSubstr("injected crash"));
    EXPECT_EQ(Listed(*store, ""), (std::vector<std::string>{"a=1", "b=1"}));
  }
  auto store = OpenStore(dir.path());
  EXPECT_EQ(Listed(*store, ""), (std::vector<std::string>{"a=1", "b=1"}));
}

TEST(PropertiesTest, ABackupCarriesThem) {
  TempDir dir;
  TempDir parent;
  const std::string copy = parent.path() + "/copy";
  {
    auto store = OpenStore(dir.path());
    ASSERT_TRUE(store->SetProperties({{"app/name", "quiver"}, {"app/n", "7"}}).ok());
    ASSERT_TRUE(store->Backup(copy).ok());
    // Changes after the backup are not in it.
    ASSERT_TRUE(store->SetProperties({{"app/later", "x"}}).ok());
  }
  auto restored = OpenStore(copy);
  EXPECT_EQ(Listed(*restored, "app/"), (std::vector<std::string>{"app/n=7", "app/name=quiver"}));
}

TEST(PropertiesTest, AStoreMadeBeforeThemReadsEmptyAndGetsTheTableWhenWritable) {
  TempDir dir;
  {
    auto store = OpenStore(dir.path());
    ASSERT_TRUE(store->Close().ok());
  }
  RunSql(dir.path(), "DROP TABLE properties");
  {
    auto store = OpenStore(dir.path(), /*read_only=*/true);
    EXPECT_TRUE(Listed(*store, "").empty());
  }
  auto store = OpenStore(dir.path());
  ASSERT_TRUE(store->SetProperties({{"a", "1"}}).ok());
  EXPECT_EQ(Listed(*store, ""), (std::vector<std::string>{"a=1"}));
}

// --- Insertion order ---------------------------------------------------------------------

class InsertionOrderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = OpenStore(dir_.path());
    CollectionConfig config;
    config.dimensions = 2;
    config.metric = Metric::kL2sq;
    c_ = *store_->CreateCollection("c", config);
  }

  static Record Make(const std::string& id, int group) {
    Record r;
    r.id = id;
    r.key = KeyForStringId(id);
    r.embedding = {static_cast<float>(group), 1};
    r.metadata = "{\"group\": " + std::to_string(group) + "}";
    return r;
  }

  /// Every id in `order`, paging `page` records at a time with cursors.
  std::vector<std::string> ScanIds(ScanOptions options, std::size_t page = 3) {
    options.limit = page;
    std::vector<std::string> ids;
    for (;;) {
      auto result = c_->Scan(options);
      EXPECT_TRUE(result.ok()) << result.status().ToString();
      if (!result.ok()) break;
      for (const Record& r : result->records) ids.push_back(r.id);
      if (result->next_cursor.empty()) break;
      options.cursor = result->next_cursor;
    }
    return ids;
  }

  static ScanOptions Insertion() {
    ScanOptions options;
    options.order = ScanOrder::kInsertion;
    return options;
  }

  TempDir dir_;
  std::string log_;  // outlives store_, whose logger may write to it
  std::unique_ptr<Store> store_;
  std::shared_ptr<Collection> c_;
};

TEST_F(InsertionOrderTest, RecordsComeInTheOrderTheyWereFirstWritten) {
  // 40 ids written in a shuffled order over several batches; their key order differs.
  std::vector<std::string> written;
  for (int i = 0; i < 40; ++i) written.push_back("id-" + std::to_string(i));
  std::shuffle(written.begin(), written.end(), std::mt19937(7));
  for (std::size_t at = 0; at < written.size(); at += 7) {
    std::vector<Record> batch;
    for (std::size_t i = at; i < std::min(at + 7, written.size()); ++i) {
      batch.push_back(Make(written[i], static_cast<int>(i % 3)));
    }
    ASSERT_TRUE(c_->Upsert(batch).ok());
  }
  EXPECT_EQ(ScanIds(Insertion()), written);
  std::vector<std::string> by_key = ScanIds(ScanOptions{});
  ASSERT_NE(by_key, written) << "the test needs key order to differ";

  // An upsert keeps a record's place; a delete and a new write puts it at the end.
  ASSERT_TRUE(c_->Upsert({Make(written[5], 9), Make(written[0], 9)}).ok());
  ASSERT_TRUE(c_->Delete({KeyForStringId(written[3])}).ok());
  ASSERT_TRUE(c_->Upsert({Make(written[3], 1)}).ok());
  std::vector<std::string> expected = written;
  expected.erase(expected.begin() + 3);
  expected.push_back(written[3]);
  EXPECT_EQ(ScanIds(Insertion()), expected);

  // With a filter, an offset, and restricted to keys given in any order.
  ScanOptions filtered = Insertion();
  filtered.filter = R"({"group": 1})";
  std::vector<std::string> group1;
  for (const std::string& id : expected) {
    const std::size_t i =
        static_cast<std::size_t>(std::find(written.begin(), written.end(), id) - written.begin());
    const int group = id == written[5] || id == written[0] ? 9 : id == written[3] ? 1 : i % 3;
    if (group == 1) group1.push_back(id);
  }
  EXPECT_EQ(ScanIds(filtered, 2), group1);
  ScanOptions skipped = Insertion();
  skipped.offset = 10;
  skipped.limit = 5;
  auto page = c_->Scan(skipped);
  ASSERT_TRUE(page.ok());
  std::vector<std::string> page_ids;
  for (const Record& r : page->records) page_ids.push_back(r.id);
  EXPECT_EQ(page_ids, std::vector<std::string>(expected.begin() + 10, expected.begin() + 15));
  ScanOptions some = Insertion();
  for (const std::string& id : {expected[20], expected[2], expected[30], std::string("absent")}) {
    some.keys.push_back(KeyForStringId(id));
  }
  EXPECT_EQ(ScanIds(some, 2), (std::vector<std::string>{expected[2], expected[20], expected[30]}));
  some.order = ScanOrder::kKey;
  EXPECT_EQ(ScanIds(some, 2).size(), 3u);

  // The order survives a reopen.
  ASSERT_TRUE(store_->Close().ok());
  store_ = OpenStore(dir_.path());
  c_ = *store_->GetCollection("c");
  EXPECT_EQ(ScanIds(Insertion(), 7), expected);
}

TEST_F(InsertionOrderTest, CursorsBelongToTheirOrder) {
  ASSERT_TRUE(c_->Upsert({Make("a", 0), Make("b", 0), Make("c", 0)}).ok());
  ScanOptions by_key;
  by_key.limit = 1;
  auto first = c_->Scan(by_key);
  ASSERT_TRUE(first.ok());
  ScanOptions insertion = Insertion();
  insertion.limit = 1;
  auto other = c_->Scan(insertion);
  ASSERT_TRUE(other.ok());
  insertion.cursor = first->next_cursor;
  EXPECT_THAT(c_->Scan(insertion).status().message(), HasSubstr("insertion order"));
  by_key.cursor = other->next_cursor;
  EXPECT_THAT(c_->Scan(by_key).status().message(), HasSubstr("key order"));
  insertion.cursor = "i12:x";
  EXPECT_EQ(c_->Scan(insertion).status().code(), StatusCode::kInvalidArgument);
  ScanOptions too_many = Insertion();
  too_many.keys.assign(kMaxBatchSize + 1, 1);
  EXPECT_THAT(c_->Scan(too_many).status().message(), HasSubstr("keys: 100001 keys"));
}

TEST_F(InsertionOrderTest, AStoreMadeBeforeItListsItsOldRecordsFirstInKeyOrder) {
  ASSERT_TRUE(c_->Upsert({Make("x", 0), Make("y", 0), Make("z", 0), Make("w", 0)}).ok());
  ASSERT_TRUE(store_->Close().ok());
  // The schema of a Quiver without insertion order.
  RunSql(dir_.path(),
         "DROP INDEX records_1_insert_seq; ALTER TABLE records_1 DROP COLUMN insert_seq;");
  std::vector<std::string> old_by_key;
  {
    // Read-only: no migration; insertion order is key order.
    store_ = OpenStore(dir_.path(), /*read_only=*/true);
    c_ = *store_->GetCollection("c");
    old_by_key = ScanIds(ScanOptions{});
    EXPECT_EQ(ScanIds(Insertion(), 3), old_by_key);
  }
  StoreOptions options;
  options.logger = [this](LogLevel, std::string_view line) { log_ += std::string(line) + "\n"; };
  store_ = std::move(Store::Open(dir_.path(), options)).value();
  EXPECT_THAT(log_, HasSubstr("collection 'c': added its insertion order"));
  c_ = *store_->GetCollection("c");
  EXPECT_EQ(ScanIds(Insertion(), 3), old_by_key);
  // New records follow the old ones; an old record rewritten keeps its place.
  ASSERT_TRUE(c_->Upsert({Make("b", 0), Make("a", 0), Make(old_by_key[0], 1)}).ok());
  std::vector<std::string> expected = old_by_key;
  expected.push_back("b");
  expected.push_back("a");
  EXPECT_EQ(ScanIds(Insertion(), 1), expected);
  EXPECT_EQ(ScanIds(Insertion(), 100), expected);
}

TEST_F(InsertionOrderTest, ReembeddingKeepsTheOrder) {
  std::vector<Record> records;
  for (const char* id : {"q", "e", "t", "a", "m"}) {
    Record r = Make(id, 0);
    r.text = std::string("text of ") + id;
    records.push_back(r);
  }
  ASSERT_TRUE(c_->Upsert({records[0], records[1]}).ok());
  ASSERT_TRUE(c_->Upsert({records[2], records[3], records[4]}).ok());
  ReembedOptions options;
  options.embedder = std::make_shared<::quiver::testing::BagOfWordsEmbedder>();
  ASSERT_TRUE(store_->Reembed("c", options).ok());
  c_ = *store_->GetCollection("c");
  EXPECT_EQ(ScanIds(Insertion(), 2), (std::vector<std::string>{"q", "e", "t", "a", "m"}));
}

}  // namespace
}  // namespace quiver
