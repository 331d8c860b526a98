// Copyright (c) Quiver authors.
//
// The bad-input catalog: each mistake gets InvalidArgument (or NotFound) with
// a message naming the field and the expected value, and writes nothing (I9).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>

#include "common/test_util.h"
#include "quiver/quiver.h"

namespace quiver {
namespace {

using ::quiver::testing::QuietOptions;
using ::quiver::testing::TempDir;
using ::testing::HasSubstr;

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = std::move(Store::Open(dir_.path(), QuietOptions())).value();
    CollectionConfig config;
    config.dimensions = 4;
    config.metric = Metric::kCos;
    collection_ = *store_->CreateCollection("docs", config);
    ASSERT_TRUE(collection_->Upsert({Good(1)}).ok());
  }

  static Record Good(Key key) { return Record{key, "", "text", R"({"a": 1})", {1, 2, 3, 4}}; }

  /// A batch of good records with one bad one at index 1 must be rejected
  /// whole, with `field` in the message, and leave the count unchanged.
  void ExpectRejected(const Record& bad, const std::string& field) {
    std::vector<Record> batch = {Good(10), bad, Good(12)};
    Status s = collection_->Upsert(batch);
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
    EXPECT_THAT(s.message(), HasSubstr(field));
    EXPECT_EQ(*collection_->Count(), 1u) << "a rejected batch must write nothing";
    EXPECT_FALSE((*collection_->Get({10}))[0].has_value());
  }

  TempDir dir_;
  std::unique_ptr<Store> store_;
  std::shared_ptr<Collection> collection_;
};

TEST_F(BadInputTest, WrongDimensions) {
  Record bad = Good(11);
  bad.embedding = {1, 2, 3};
  ExpectRejected(bad, "records[1].embedding: 3 values; expected 4");
}

TEST_F(BadInputTest, NaNAndInfinity) {
  Record nan = Good(11);
  nan.embedding[2] = std::numeric_limits<float>::quiet_NaN();
  ExpectRejected(nan, "records[1].embedding[2]");
  Record inf = Good(11);
  inf.embedding[0] = std::numeric_limits<float>::infinity();
  ExpectRejected(inf, "records[1].embedding[0]: is NaN or infinite");
}

TEST_F(BadInputTest, MetadataThatIsNotAJsonObject) {
  Record array = Good(11);
  array.metadata = "[1, 2]";
  ExpectRejected(array, "records[1].metadata: is a JSON array; expected a JSON object");
  Record broken = Good(11);
  broken.metadata = "{\"a\": ";
  ExpectRejected(broken, "records[1].metadata: is not valid JSON");
}

TEST_F(BadInputTest, DuplicateKeysInOneBatch) {
  ExpectRejected(Good(10), "records[1].key: 10 appears twice");
}

TEST_F(BadInputTest, ReservedKey) { ExpectRejected(Good(kReservedKey), "records[1].key"); }

TEST_F(BadInputTest, ExternalIdHeldByAnotherKey) {
  Record first = Good(20);
  first.id = "doc-a";
  ASSERT_TRUE(collection_->Upsert({first}).ok());
  Record thief = Good(11);
  thief.id = "doc-a";
  Status s = collection_->Upsert({Good(10), thief});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("'doc-a' already belongs to key 20"));
  EXPECT_FALSE((*collection_->Get({10}))[0].has_value()) << "the whole batch rolls back";
}

TEST_F(BadInputTest, EmptyAndOversizedBatches) {
  EXPECT_THAT(collection_->Upsert({}).message(), HasSubstr("records: the batch is empty"));
  std::vector<Record> huge(kMaxBatchSize + 1, Good(1));
  EXPECT_THAT(collection_->Upsert(huge).message(), HasSubstr("expected at most 100000"));
}

TEST_F(BadInputTest, SearchArguments) {
  std::vector<float> q = {1, 2, 3, 4};
  SearchOptions zero;
  zero.k = 0;
  EXPECT_THAT(collection_->Search(q, zero).status().message(),
              HasSubstr("k: 0; expected 1..10000"));
  SearchOptions huge;
  huge.k = 1'000'000'000;
  EXPECT_EQ(collection_->Search(q, huge).status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(collection_->Search(std::vector<float>{1, 2}, SearchOptions{}).status().message(),
              HasSubstr("query: 2 values; expected 4"));
  std::vector<float> nan = {1, std::numeric_limits<float>::quiet_NaN(), 3, 4};
  EXPECT_THAT(collection_->Search(nan, SearchOptions{}).status().message(),
              HasSubstr("queries[0][1]"));
}

TEST_F(BadInputTest, InvalidCollectionNames) {
  CollectionConfig config;
  config.dimensions = 4;
  for (const std::string& name :
       {std::string("../x"), std::string("a;DROP TABLE records_1"), std::string(""),
        std::string(200, 'a'), std::string("a/b"), std::string("naïve"), std::string("a b")}) {
    auto created = store_->CreateCollection(name, config);
    EXPECT_EQ(created.status().code(), StatusCode::kInvalidArgument) << name;
    EXPECT_THAT(created.status().message(), HasSubstr("collection name")) << name;
    EXPECT_EQ(store_->GetCollection(name).status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(store_->DropCollection(name).code(), StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(store_->ListCollections()->size(), 1u);
  EXPECT_FALSE(std::filesystem::exists(dir_.path() + "/../x"));
  EXPECT_TRUE(store_->CreateCollection(std::string(64, 'a'), config).ok()) << "64 is allowed";
}

TEST_F(BadInputTest, UnknownCollection) {
  auto missing = store_->GetCollection("nope");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("'nope' does not exist"));
  EXPECT_EQ(store_->DropCollection("nope").code(), StatusCode::kNotFound);
}

TEST_F(BadInputTest, InvalidConfiguration) {
  CollectionConfig config;
  config.dimensions = 0;
  EXPECT_THAT(store_->CreateCollection("x", config).status().message(),
              HasSubstr("dimensions: 0 is out of range; expected 1..65536"));
  config.dimensions = 8;
  config.connectivity = 1;
  EXPECT_THAT(store_->CreateCollection("x", config).status().message(), HasSubstr("connectivity"));
  EXPECT_EQ(store_->GetCollection("x").status().code(), StatusCode::kNotFound);
}

TEST_F(BadInputTest, DuplicateCollection) {
  CollectionConfig config;
  config.dimensions = 4;
  EXPECT_EQ(store_->CreateCollection("docs", config).status().code(), StatusCode::kAlreadyExists);
}

}  // namespace
}  // namespace quiver
