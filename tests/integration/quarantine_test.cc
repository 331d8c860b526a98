// Copyright (c) Quiver authors.
//
// Damage found at open (docs/durability.md §4): a collection whose catalog
// row was edited outside Quiver, or whose records table fails SQLite's
// quick_check, is quarantined and the store serves the others; damage to the
// catalog tables refuses the whole store. Stores made before configuration
// checksums gain them at their first writable open.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fstream>

#include "common/sqlite_util.h"
#include "common/test_util.h"
#include "quiver/quiver.h"

namespace quiver {
namespace {

using ::quiver::testing::ClusteredVectors;
using ::quiver::testing::QueryInt;
using ::quiver::testing::RunSql;
using ::quiver::testing::TempDir;
using ::testing::HasSubstr;

constexpr std::size_t kDims = 8;
constexpr std::size_t kRecords = 300;

/// Overwrites the first bytes of the b-tree root page of `table` in the
/// database file (the store must be closed, its WAL checkpointed on close):
/// the page's type byte becomes invalid, which SQLite reports as corruption.
void DamageRootPage(const std::string& dir, const std::string& table) {
  const std::int64_t page_size = QueryInt(dir, "PRAGMA page_size");
  const std::int64_t root =
      QueryInt(dir, "SELECT rootpage FROM sqlite_schema WHERE name='" + table + "'");
  ASSERT_GT(root, 1) << table;
  std::fstream f(dir + "/quiver.db", std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>((root - 1) * page_size));
  const char garbage[16] = {0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f,
                            0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f};
  f.write(garbage, sizeof(garbage));
}

class QuarantineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = *Store::Open(dir_.path(), Options());
    CollectionConfig config;
    config.dimensions = kDims;
    config.metric = Metric::kL2sq;
    for (const char* name : {"damaged", "healthy"}) {
      auto c = *store->CreateCollection(name, config);
      std::vector<Record> records;
      for (Key k = 0; k < kRecords; ++k) {
        records.push_back(
            {k, "", "text " + std::to_string(k), R"({"n": 1})",
             std::vector<float>(base_.begin() + k * kDims, base_.begin() + (k + 1) * kDims)});
      }
      ASSERT_TRUE(c->Upsert(records).ok());
    }
    ASSERT_TRUE(store->Close().ok());
  }

  StoreOptions Options() {
    StoreOptions options;
    options.logger = [this](LogLevel, std::string_view line) { log_ += std::string(line) + "\n"; };
    return options;
  }

  /// The healthy collection still answers searches and gets.
  void ExpectHealthyServed(Store& store) {
    auto c = store.GetCollection("healthy");
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    std::vector<float> q(base_.begin() + 42 * kDims, base_.begin() + 43 * kDims);
    auto m = (*c)->Search(q, SearchOptions{});
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_EQ((*m)[0].key, 42u);
    EXPECT_EQ(*(*c)->Count(), kRecords);
  }

  /// The collection "damaged" is listed as quarantined and refuses service.
  void ExpectQuarantined(Store& store, const std::string& why) {
    auto infos = *store.ListCollections();
    ASSERT_EQ(infos.size(), 2u);
    EXPECT_EQ(infos[0].name, "damaged");
    EXPECT_THAT(infos[0].damage, HasSubstr(why));
    EXPECT_TRUE(infos[1].damage.empty());
    auto c = store.GetCollection("damaged");
    EXPECT_EQ(c.status().code(), StatusCode::kCorruption);
    EXPECT_THAT(c.status().message(), HasSubstr("quarantined"));
    EXPECT_THAT(c.status().message(), HasSubstr(why));
    CollectionConfig config;
    config.dimensions = kDims;
    const StatusCode create = store.CreateCollection("damaged", config).status().code();
    EXPECT_TRUE(create == StatusCode::kAlreadyExists || create == StatusCode::kNotSupported)
        << "the name stays taken (NotSupported: a read-only store)";
    EXPECT_THAT(log_, HasSubstr("collection 'damaged' is quarantined"));
  }

  TempDir dir_;
  std::vector<float> base_ = ClusteredVectors(kRecords, kDims, 7);
  std::string log_;
};

TEST_F(QuarantineTest, ConfigurationEditedOutsideQuiverIsQuarantined) {
  // The metric changed by hand: without the checksum the index would be
  // rebuilt with it and every answer would change, silently.
  RunSql(dir_.path(), "UPDATE collections SET metric='cos' WHERE name='damaged'");
  for (bool read_only : {true, false}) {
    StoreOptions options = Options();
    options.read_only = read_only;
    auto store = Store::Open(dir_.path(), options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    ExpectQuarantined(**store, "does not match the row's checksum");
    ExpectHealthyServed(**store);
  }
  // Dropping it is the way out; the healthy collection is untouched.
  {
    auto store = *Store::Open(dir_.path(), Options());
    ASSERT_TRUE(store->DropCollection("damaged").ok());
    EXPECT_FALSE(std::filesystem::exists(dir_.Join("indexes/1")));
  }
  auto store = *Store::Open(dir_.path(), Options());
  EXPECT_EQ(store->ListCollections()->size(), 1u);
  ExpectHealthyServed(*store);
}

TEST_F(QuarantineTest, DamagedRecordsTableIsQuarantinedWhenChecked) {
  DamageRootPage(dir_.path(), "records_1");
  StoreOptions options = Options();
  options.check_records_at_open = true;
  auto store = Store::Open(dir_.path(), options);
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  ExpectQuarantined(**store, "records table is damaged");
  ExpectHealthyServed(**store);
}

TEST_F(QuarantineTest, DamagedCatalogRefusesTheStore) {
  DamageRootPage(dir_.path(), "collections");
  auto store = Store::Open(dir_.path(), Options());
  EXPECT_EQ(store.status().code(), StatusCode::kCorruption);
  EXPECT_THAT(store.status().message(), HasSubstr("catalog table 'collections' is damaged"));
  EXPECT_THAT(store.status().message(), HasSubstr("restore the store from a backup"));
}

TEST_F(QuarantineTest, StoresWithoutChecksumsGainThemAtTheFirstWritableOpen) {
  RunSql(dir_.path(), "ALTER TABLE collections DROP COLUMN config_checksum");
  {
    StoreOptions options = Options();
    options.read_only = true;  // cannot add the column: reads without checking
    auto store = *Store::Open(dir_.path(), options);
    EXPECT_TRUE((*store->ListCollections())[0].damage.empty());
    ExpectHealthyServed(*store);
  }
  { auto store = *Store::Open(dir_.path(), Options()); }  // adds and fills the column
  EXPECT_NE(QueryInt(dir_.path(), "SELECT config_checksum FROM collections WHERE id=1"), 0);
  RunSql(dir_.path(), "UPDATE collections SET dimensions=9 WHERE name='damaged'");
  auto store = *Store::Open(dir_.path(), Options());
  ExpectQuarantined(*store, "does not match the row's checksum");
}

TEST_F(QuarantineTest, RebuildKeepsTheChecksumCurrent) {
  {
    auto store = *Store::Open(dir_.path(), Options());
    RebuildOptions rebuild;
    rebuild.connectivity = 24;
    ASSERT_TRUE((*store->GetCollection("damaged"))->Rebuild(rebuild).ok());
  }
  auto store = *Store::Open(dir_.path(), Options());
  auto infos = *store->ListCollections();
  EXPECT_TRUE(infos[0].damage.empty()) << infos[0].damage;
  EXPECT_EQ(infos[0].config.connectivity, 24u);
}

}  // namespace
}  // namespace quiver
