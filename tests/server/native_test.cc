// Copyright (c) Quiver authors.
//
// /v2: every route, with integer and string ids.

#include <string>

#include <gtest/gtest.h>

#include "server/record_id.h"
#include "server_harness.h"

namespace quiver::server::testing {
namespace {

TEST(NativeTest, CollectionsCreateListGetDrop) {
  TestServer server;
  Response created = server.Post("/v2/collections", Json{{"name", "docs"},
                                                         {"config",
                                                          {{"dimensions", 3},
                                                           {"metric", "cos"},
                                                           {"connectivity", 8},
                                                           {"model_id", "mini"},
                                                           {"model_version", "2"}}}});
  ASSERT_EQ(created.status, 201) << created.raw;
  EXPECT_EQ(created.header("Location"), "/v2/collections/docs");
  EXPECT_EQ(created.body["name"], "docs");
  EXPECT_TRUE(created.body["id"].is_number_integer());
  EXPECT_EQ(created.body["config"],
            Json::parse(R"({"dimensions": 3, "metric": "cos", "scalar": "f32", "connectivity": 8,
                            "expansion_add": 128, "expansion_search": 64, "model_id": "mini",
                            "model_version": "2"})"));

  Response duplicate =
      server.Post("/v2/collections", Json{{"name", "docs"}, {"config", {{"dimensions", 3}}}});
  EXPECT_EQ(duplicate.status, 409) << duplicate.raw;
  EXPECT_EQ(duplicate.body["error"]["code"], "already_exists");

  server.CreateCollection("alpha", 2);
  EXPECT_EQ(server.CollectionNames(), (std::vector<std::string>{"alpha", "docs"}));

  Response got = server.Get("/v2/collections/docs");
  ASSERT_EQ(got.status, 200) << got.raw;
  EXPECT_EQ(got.body["config"]["connectivity"], 8);
  EXPECT_EQ(got.body["records"], 0);

  Response dropped = server.Delete("/v2/collections/docs");
  EXPECT_EQ(dropped.status, 200) << dropped.raw;
  EXPECT_EQ(dropped.body, Json::parse(R"({"dropped": "docs"})"));
  EXPECT_EQ(server.Get("/v2/collections/docs").status, 404);
  EXPECT_EQ(server.Delete("/v2/collections/docs").status, 404);
  EXPECT_EQ(server.CollectionNames(), (std::vector<std::string>{"alpha"}));
}

TEST(NativeTest, UpsertGetDeleteCountWithIntegerAndStringIds) {
  TestServer server;
  server.CreateCollection("c", 3);
  Response upserted =
      server.Post("/v2/collections/c/records",
                  Json{{"records",
                        {{{"id", 7},
                          {"embedding", Vector({1, 0, 0})},
                          {"text", "seven"},
                          {"metadata", {{"tag", "int"}, {"n", 7}}}},
                         {{"id", "doc-1"}, {"embedding", Vector({0, 1, 0})}, {"text", "one"}},
                         {{"id", "doc-2"}, {"embedding", Vector({0, 0, 1})}}}}});
  ASSERT_EQ(upserted.status, 200) << upserted.raw;
  EXPECT_EQ(upserted.body, Json::parse(R"({"upserted": 3})"));
  EXPECT_EQ(server.Count("c"), 3);

  Response got = server.Post(
      "/v2/collections/c/records/get",
      Json{{"ids", {7, "doc-1", "missing", 8}}, {"include", {"text", "metadata", "embedding"}}});
  ASSERT_EQ(got.status, 200) << got.raw;
  ASSERT_EQ(got.body["records"].size(), 2u) << got.raw;
  const Json& seven = got.body["records"][0];
  EXPECT_EQ(seven["id"], 7);
  EXPECT_EQ(seven["key"], 7);
  EXPECT_EQ(seven["text"], "seven");
  EXPECT_EQ(seven["metadata"], Json::parse(R"({"tag": "int", "n": 7})"));
  EXPECT_EQ(seven["embedding"], Json::parse("[1.0, 0.0, 0.0]"));
  const Json& one = got.body["records"][1];
  EXPECT_EQ(one["id"], "doc-1");
  // The documented mapping: FNV-1a-64 of the UTF-8 bytes, top bit cleared.
  EXPECT_EQ(one["key"].get<std::uint64_t>(), KeyForStringId("doc-1"));
  EXPECT_EQ(one["metadata"], Json::object());
  EXPECT_EQ(got.body["not_found"], Json::parse(R"(["missing", 8])"));

  // Default include: text and metadata, no embedding.
  Response defaults = server.Post("/v2/collections/c/records/get", Json{{"ids", {"doc-2"}}});
  ASSERT_EQ(defaults.status, 200) << defaults.raw;
  EXPECT_EQ(defaults.body["records"][0].count("embedding"), 0u);
  EXPECT_EQ(defaults.body["records"][0]["text"], "");

  // Upsert replaces.
  ASSERT_EQ(
      server
          .Post("/v2/collections/c/records",
                Json{{"records",
                      {{{"id", "doc-1"}, {"embedding", Vector({0, 1, 0})}, {"text", "uno"}}}}})
          .status,
      200);
  EXPECT_EQ(server.Count("c"), 3);
  EXPECT_EQ(server.Post("/v2/collections/c/records/get", Json{{"ids", {"doc-1"}}})
                .body["records"][0]["text"],
            "uno");

  Response deleted = server.Post("/v2/collections/c/records/delete",
                                 Json{{"ids", {"doc-1", 7, "never-there", 12345}}});
  ASSERT_EQ(deleted.status, 200) << deleted.raw;
  EXPECT_EQ(deleted.body, Json::parse(R"({"deleted": 2})"));
  EXPECT_EQ(server.Count("c"), 1);
}

TEST(NativeTest, StringIdDoesNotReachAnIntegerRecordWithTheSameKey) {
  TestServer server;
  server.CreateCollection("c", 2);
  const std::uint64_t key = KeyForStringId("alias");
  ASSERT_EQ(server
                .Post("/v2/collections/c/records",
                      Json{{"records", {{{"id", key}, {"embedding", Vector({1, 0})}}}}})
                .status,
            200);
  // "alias" hashes to that key, but the record there is not named "alias".
  Response got = server.Post("/v2/collections/c/records/get", Json{{"ids", {"alias"}}});
  EXPECT_TRUE(got.body["records"].empty()) << got.raw;
  Response deleted = server.Post("/v2/collections/c/records/delete", Json{{"ids", {"alias"}}});
  EXPECT_EQ(deleted.body["deleted"], 0) << deleted.raw;
  EXPECT_EQ(server.Count("c"), 1);
}

TEST(NativeTest, QueryOneOrManyVectorsWithInclude) {
  TestServer server;
  server.CreateCollection("q", 2, "l2sq");
  Json records = Json::array();
  for (int i = 0; i < 20; ++i) {
    records.push_back({{"id", i},
                       {"embedding", Vector({static_cast<float>(i), 0})},
                       {"text", "r" + std::to_string(i)},
                       {"metadata", {{"i", i}}}});
  }
  ASSERT_EQ(server.Post("/v2/collections/q/records", Json{{"records", records}}).status, 200);

  Response one =
      server.Post("/v2/collections/q/query", Json{{"vector", Vector({5.2f, 0})}, {"k", 3}});
  ASSERT_EQ(one.status, 200) << one.raw;
  ASSERT_EQ(one.body["results"].size(), 1u);
  const Json& matches = one.body["results"][0];
  ASSERT_EQ(matches.size(), 3u);
  EXPECT_EQ(matches[0]["id"], 5);
  EXPECT_EQ(matches[1]["id"], 6);
  EXPECT_EQ(matches[2]["id"], 4);
  EXPECT_NEAR(matches[0]["distance"].get<double>(), 0.04, 1e-4);  // l2sq
  EXPECT_EQ(matches[0]["text"], "r5");
  EXPECT_EQ(matches[0]["metadata"], Json::parse(R"({"i": 5})"));
  EXPECT_EQ(matches[0].count("embedding"), 0u);

  Response many =
      server.Post("/v2/collections/q/query", Json{{"vectors", {Vector({0, 0}), Vector({19, 0})}},
                                                  {"k", 2},
                                                  {"expansion_search", 100},
                                                  {"include", {"embedding"}}});
  ASSERT_EQ(many.status, 200) << many.raw;
  ASSERT_EQ(many.body["results"].size(), 2u);
  EXPECT_EQ(many.body["results"][0][0],
            Json::parse(R"({"id": 0, "key": 0, "embedding": [0.0, 0.0]})"));
  EXPECT_EQ(many.body["results"][1][0]["id"], 19);
  EXPECT_EQ(many.body["results"][1][0]["embedding"], Json::parse("[19.0, 0.0]"));

  // Ids come back even when neither text nor metadata is asked for.
  server.Post("/v2/collections/q/records",
              Json{{"records", {{{"id", "named"}, {"embedding", Vector({100, 0})}}}}});
  Response named =
      server.Post("/v2/collections/q/query",
                  Json{{"vector", Vector({100, 0})}, {"k", 1}, {"include", {"distance"}}});
  ASSERT_EQ(named.status, 200) << named.raw;
  EXPECT_EQ(named.body["results"][0][0]["id"], "named");
}

TEST(NativeTest, StatsCheckpointInfo) {
  TestServer server;
  server.CreateCollection("s", 2);
  ASSERT_EQ(server
                .Post("/v2/collections/s/records",
                      Json{{"records", {{{"id", 1}, {"embedding", Vector({1, 2})}}}}})
                .status,
            200);
  Response stats = server.Get("/v2/collections/s/stats");
  ASSERT_EQ(stats.status, 200) << stats.raw;
  EXPECT_EQ(stats.body["records"], 1);
  EXPECT_EQ(stats.body["index_vectors"], 1);
  EXPECT_EQ(stats.body["config"]["dimensions"], 2);
  EXPECT_TRUE(stats.body["change_log_length"].is_number_integer());

  Response checkpoint = server.Post("/v2/collections/s/checkpoint", std::string(""));
  ASSERT_EQ(checkpoint.status, 200) << checkpoint.raw;
  EXPECT_EQ(checkpoint.body["collection"], "s");
  EXPECT_GE(checkpoint.body["checkpoint_generation"].get<int>(), 1);
  EXPECT_EQ(checkpoint.body["change_log_length"], 0);
  EXPECT_EQ(server.Post("/v2/checkpoint", std::string("")).status, 200);

  Response info = server.Get("/v2/info");
  ASSERT_EQ(info.status, 200) << info.raw;
  EXPECT_EQ(info.body["version"], Version());
  EXPECT_EQ(info.body["limits"]["max_search_k"], kMaxSearchK);
  EXPECT_EQ(info.body["limits"]["max_batch_size"], kMaxBatchSize);
}

TEST(NativeTest, KeyForStringIdIsFnv1a64WithTopBitCleared) {
  // FNV-1a-64 test vectors: "" -> cbf29ce484222325, "a" -> af63dc4c8601ec8c.
  EXPECT_EQ(KeyForStringId(""), 0x4bf29ce484222325ULL);
  EXPECT_EQ(KeyForStringId("a"), 0x2f63dc4c8601ec8cULL);
  EXPECT_EQ(KeyForStringId("foobar"), 0x85944171f73967e8ULL & 0x7fffffffffffffffULL);
}

}  // namespace
}  // namespace quiver::server::testing
