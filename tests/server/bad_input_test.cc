// Copyright (c) Quiver authors.
//
// The bad-input catalog: every entry gets its documented 4xx, in its route's
// error shape, and writes nothing (record counts and the set of collections
// are checked after each one).

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "server_harness.h"

namespace quiver::server::testing {
namespace {

struct BadInput {
  std::string name;  // test name suffix
  std::string method;
  std::string path;
  std::string body;
  int status;
  // The native error code; "" = a /v1 route: memista's {"error": "..."} shape.
  std::string code;
  std::string content_type = "application/json";
};

std::ostream& operator<<(std::ostream& out, const BadInput& input) { return out << input.name; }

const std::string kUpsert = "/v2/collections/target/records";
const std::string kQuery = "/v2/collections/target/query";
const std::string kGet = "/v2/collections/target/records/get";
const std::string kCreate = "/v2/collections";

std::string Records(const std::string& records) { return R"({"records": [)" + records + "]}"; }

std::string TooManyIds() {
  std::string ids;
  for (std::size_t i = 0; i <= kMaxBatchSize; ++i) ids += (i ? "," : "") + std::to_string(i);
  return R"({"ids": [)" + ids + "]}";
}

std::string Insert(const std::string& database_id, const std::string& chunk) {
  return R"({"database_id": )" + database_id + R"(, "chunks": [)" + chunk + "]}";
}

const std::string kLongName(200, 'n');

std::vector<BadInput> Catalog() {
  const std::string ok_record = R"({"id": 10, "embedding": [1, 2, 3]})";
  return {
      // Malformed JSON and wrong shapes.
      {"MalformedJson", "POST", kUpsert, R"({"records": [)", 400, "invalid_argument"},
      {"EmptyBody", "POST", kUpsert, "", 400, "invalid_argument"},
      {"RootNotObject", "POST", kUpsert, "[1, 2]", 400, "invalid_argument"},
      {"RecordsWrongType", "POST", kUpsert, R"({"records": "x"})", 400, "invalid_argument"},
      {"RecordsMissing", "POST", kUpsert, "{}", 400, "invalid_argument"},
      {"EmbeddingMissing", "POST", kUpsert, Records(R"({"id": 1})"), 400, "invalid_argument"},
      {"IdMissing", "POST", kUpsert, Records(R"({"embedding": [1, 2, 3]})"), 400,
       "invalid_argument"},
      {"UnknownField", "POST", kUpsert, R"({"records": [], "extra": 1})", 400, "invalid_argument"},
      {"UnknownRecordField", "POST", kUpsert,
       Records(R"({"id": 1, "embedding": [1, 2, 3], "vector": [1]})"), 400, "invalid_argument"},
      // Numbers JSON cannot carry, or float32 cannot.
      {"WrongDimension", "POST", kUpsert, Records(R"({"id": 1, "embedding": [1, 2]})"), 400,
       "invalid_argument"},
      {"Overflow1e999", "POST", kUpsert, Records(R"({"id": 1, "embedding": [1, 1e999, 3]})"), 400,
       "invalid_argument"},
      {"NaNToken", "POST", kUpsert, Records(R"({"id": 1, "embedding": [1, NaN, 3]})"), 400,
       "invalid_argument"},
      {"InfinityToken", "POST", kUpsert, Records(R"({"id": 1, "embedding": [Infinity, 2, 3]})"),
       400, "invalid_argument"},
      {"MinusInfinityToken", "POST", kUpsert,
       Records(R"({"id": 1, "embedding": [1, 2, -Infinity]})"), 400, "invalid_argument"},
      {"Float32Overflow", "POST", kUpsert, Records(R"({"id": 1, "embedding": [1, 2, 1e300]})"), 400,
       "invalid_argument"},
      {"StringInEmbedding", "POST", kUpsert, Records(R"({"id": 1, "embedding": ["1", 2, 3]})"), 400,
       "invalid_argument"},
      {"NullInEmbedding", "POST", kUpsert, Records(R"({"id": 1, "embedding": [1, null, 3]})"), 400,
       "invalid_argument"},
      // Batches.
      {"EmptyBatch", "POST", kUpsert, Records(""), 400, "invalid_argument"},
      {"BatchTooLarge", "POST", kGet, TooManyIds(), 400, "invalid_argument"},
      {"OneBadRecordRejectsAll", "POST", kUpsert,
       Records(ok_record + R"(, {"id": 11, "embedding": [1, 2]})"), 400, "invalid_argument"},
      {"DuplicateIds", "POST", kUpsert, Records(ok_record + "," + ok_record), 400,
       "invalid_argument"},
      // Ids.
      {"NegativeId", "POST", kUpsert, Records(R"({"id": -1, "embedding": [1, 2, 3]})"), 400,
       "invalid_argument"},
      {"FractionalId", "POST", kUpsert, Records(R"({"id": 1.5, "embedding": [1, 2, 3]})"), 400,
       "invalid_argument"},
      {"EmptyStringId", "POST", kUpsert, Records(R"({"id": "", "embedding": [1, 2, 3]})"), 400,
       "invalid_argument"},
      {"IdAbove2To63", "POST", kUpsert,
       Records(R"({"id": 9223372036854775808, "embedding": [1, 2, 3]})"), 400, "invalid_argument"},
      {"IdWrongType", "POST", kUpsert, Records(R"({"id": [1], "embedding": [1, 2, 3]})"), 400,
       "invalid_argument"},
      {"MetadataNotObject", "POST", kUpsert,
       Records(R"({"id": 1, "embedding": [1, 2, 3], "metadata": [1]})"), 400, "invalid_argument"},
      // Queries.
      {"HugeK", "POST", kQuery, R"({"vector": [1, 2, 3], "k": 10001})", 400, "invalid_argument"},
      {"ZeroK", "POST", kQuery, R"({"vector": [1, 2, 3], "k": 0})", 400, "invalid_argument"},
      {"KAsString", "POST", kQuery, R"({"vector": [1, 2, 3], "k": "10"})", 400, "invalid_argument"},
      {"VectorAndVectors", "POST", kQuery, R"({"vector": [1, 2, 3], "vectors": [[1, 2, 3]]})", 400,
       "invalid_argument"},
      {"NoVector", "POST", kQuery, R"({"k": 3})", 400, "invalid_argument"},
      {"EmptyVectors", "POST", kQuery, R"({"vectors": []})", 400, "invalid_argument"},
      {"QueryWrongDimension", "POST", kQuery, R"({"vector": [1, 2]})", 400, "invalid_argument"},
      {"UnknownInclude", "POST", kQuery, R"({"vector": [1, 2, 3], "include": ["vectors"]})", 400,
       "invalid_argument"},
      {"TooManyResults", "POST", kQuery,
       R"({"vectors": [)" +
           [] {
             std::string rows;
             for (int i = 0; i < 101; ++i) rows += (i ? "," : "") + std::string("[1, 2, 3]");
             return rows;
           }() +
           R"(], "k": 10000})",
       400, "invalid_argument"},
      // Collection names: invalid and hostile, in bodies and in paths.
      {"CreateDotDotName", "POST", kCreate, R"({"name": "../x", "config": {"dimensions": 3}})", 400,
       "invalid_argument"},
      {"CreateSqlName", "POST", kCreate, R"({"name": "a;DROP TABLE", "config": {"dimensions": 3}})",
       400, "invalid_argument"},
      {"CreateLongName", "POST", kCreate,
       R"({"name": ")" + kLongName + R"(", "config": {"dimensions": 3}})", 400, "invalid_argument"},
      {"CreateEmptyName", "POST", kCreate, R"({"name": "", "config": {"dimensions": 3}})", 400,
       "invalid_argument"},
      {"CreateZeroDimensions", "POST", kCreate, R"({"name": "z", "config": {"dimensions": 0}})",
       400, "invalid_argument"},
      {"CreateUnknownMetric", "POST", kCreate,
       R"({"name": "z", "config": {"dimensions": 3, "metric": "hamming"}})", 400,
       "invalid_argument"},
      {"CreateBadConnectivity", "POST", kCreate,
       R"({"name": "z", "config": {"dimensions": 3, "connectivity": 1}})", 400, "invalid_argument"},
      {"CreateConfigMissing", "POST", kCreate, R"({"name": "z"})", 400, "invalid_argument"},
      {"PathSqlName", "GET", "/v2/collections/a%3BDROP%20TABLE/records/count", "", 400,
       "invalid_argument"},
      {"PathLongName", "GET", "/v2/collections/" + kLongName, "", 400, "invalid_argument"},
      {"PathDotDot", "GET", "/v2/collections/..%2Fx/records/count", "", 404, "route_not_found"},
      {"PathDotDotDrop", "DELETE", "/v2/collections/..", "", 400, "invalid_argument"},
      {"UnknownCollection", "POST", "/v2/collections/nope/records",
       Records(R"({"id": 1, "embedding": [1, 2, 3]})"), 404, "not_found"},
      // /v1 (memista's error shape).
      {"V1NaN", "POST", "/v1/insert",
       Insert(R"("mem")", R"({"embedding": [NaN, 1], "text": "a", "metadata": ""})"), 400, ""},
      {"V1TextMissing", "POST", "/v1/insert",
       Insert(R"("mem")", R"({"embedding": [1, 1], "metadata": ""})"), 400, ""},
      {"V1MetadataObject", "POST", "/v1/insert",
       Insert(R"("mem")", R"({"embedding": [1, 1], "text": "a", "metadata": {"a": 1}})"), 400, ""},
      {"V1MetadataNotJson", "POST", "/v1/insert",
       Insert(R"("mem")", R"({"embedding": [1, 1], "text": "a", "metadata": "{oops"})"), 400, ""},
      {"V1WrongDimension", "POST", "/v1/insert",
       Insert(R"("mem")", R"({"embedding": [1, 1, 1], "text": "a", "metadata": ""})"), 400, ""},
      {"V1DotDotDatabase", "POST", "/v1/insert",
       Insert(R"("../x")", R"({"embedding": [1, 1], "text": "a", "metadata": ""})"), 400, ""},
      {"V1LongDatabase", "POST", "/v1/insert",
       Insert("\"" + kLongName + "\"", R"({"embedding": [1, 1], "text": "a", "metadata": ""})"),
       400, ""},
      {"V1DatabaseNotString", "POST", "/v1/insert",
       Insert("5", R"({"embedding": [1, 1], "text": "a", "metadata": ""})"), 400, ""},
      {"V1HugeNumResults", "POST", "/v1/search",
       R"({"database_id": "mem", "embeddings": [[1, 1]], "num_results": 100000})", 400, ""},
      {"V1NegativeNumResults", "POST", "/v1/search",
       R"({"database_id": "mem", "embeddings": [[1, 1]], "num_results": -1})", 400, ""},
      {"V1SearchWrongDimension", "POST", "/v1/search",
       R"({"database_id": "mem", "embeddings": [[1, 1, 1]], "num_results": 1})", 400, ""},
      {"V1SearchEmptyEmbeddings", "POST", "/v1/search",
       R"({"database_id": "mem", "embeddings": [], "num_results": 1})", 400, ""},
      {"V1DropSqlName", "DELETE", "/v1/drop", R"({"database_id": "a;DROP TABLE"})", 400, ""},
      // Routes, methods, media types.
      {"UnknownRoute", "GET", "/v3/anything", "", 404, "route_not_found"},
      {"UnknownRouteUnderV2", "POST", "/v2/collections/target/frobnicate", "{}", 404,
       "route_not_found"},
      {"WrongMethod", "PUT", kCreate, "{}", 405, "method_not_allowed"},
      {"WrongMethodOnQuery", "GET", kQuery, "", 405, "method_not_allowed"},
      {"V1WrongMethod", "GET", "/v1/search", "", 405, ""},
      {"TextPlain", "POST", kUpsert, Records(ok_record), 415, "unsupported_media_type",
       "text/plain"},
      {"FormEncoded", "POST", kUpsert, "records=1", 415, "unsupported_media_type",
       "application/x-www-form-urlencoded"},
      {"V1TextPlain", "POST", "/v1/insert",
       Insert(R"("mem")", R"({"embedding": [1, 1], "text": "a", "metadata": ""})"), 415, "",
       "text/plain"},
      {"OversizedBody", "POST", kUpsert, std::string(3u << 20, ' '), 413, "payload_too_large"},
      {"V1OversizedBody", "POST", "/v1/insert", std::string(3u << 20, ' '), 413, ""},
  };
}

class BadInputTest : public ::testing::TestWithParam<BadInput> {
 protected:
  static void SetUpTestSuite() {
    server_ = new TestServer([](ServerOptions& options) { options.max_body_bytes = 2u << 20; });
    server_->CreateCollection("target", 3);
    ASSERT_EQ(server_
                  ->Post(kUpsert, Records(R"({"id": 1, "embedding": [1, 0, 0]},
                                                {"id": "two", "embedding": [0, 1, 0]})"))
                  .status,
              200);
    ASSERT_EQ(
        server_
            ->Post("/v1/insert",
                   Insert(R"("mem")", R"({"embedding": [1, 0], "text": "a", "metadata": ""})"))
            .status,
        200);
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  Response Send(const BadInput& input) {
    std::unique_ptr<httplib::Client> client = server_->Client();
    const char* type = input.content_type.c_str();
    if (input.method == "GET") return ToResponse(client->Get(input.path.c_str()));
    if (input.method == "POST")
      return ToResponse(client->Post(input.path.c_str(), input.body, type));
    if (input.method == "PUT") return ToResponse(client->Put(input.path.c_str(), input.body, type));
    if (input.method == "DELETE") {
      return ToResponse(client->Delete(input.path.c_str(), input.body, type));
    }
    ADD_FAILURE() << "no such method in the catalog: " << input.method;
    return {};
  }

  static TestServer* server_;
};

TestServer* BadInputTest::server_ = nullptr;

TEST_P(BadInputTest, GetsDocumentedStatusAndWritesNothing) {
  const BadInput& input = GetParam();
  Response response = Send(input);
  EXPECT_EQ(response.status, input.status) << response.raw.substr(0, 500);
  ASSERT_TRUE(response.body.is_object()) << response.raw.substr(0, 500);
  if (input.code.empty()) {
    EXPECT_TRUE(response.body["error"].is_string()) << response.raw;
  } else {
    EXPECT_EQ(response.body["error"]["code"], input.code) << response.raw;
    EXPECT_TRUE(response.body["error"]["message"].is_string()) << response.raw;
  }
  if (input.status == 405) EXPECT_FALSE(response.header("Allow").empty());
  // Nothing written: the same records, the same collections.
  EXPECT_EQ(server_->Count("target"), 2);
  EXPECT_EQ(server_->Count("mem"), 1);
  EXPECT_EQ(server_->CollectionNames(), (std::vector<std::string>{"mem", "target"}));
}

INSTANTIATE_TEST_SUITE_P(Catalog, BadInputTest, ::testing::ValuesIn(Catalog()),
                         [](const ::testing::TestParamInfo<BadInput>& info) {
                           return info.param.name;
                         });

}  // namespace
}  // namespace quiver::server::testing
