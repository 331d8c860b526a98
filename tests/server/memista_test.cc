// Copyright (c) Quiver authors.
//
// /v1: memista's shapes exactly, and the places where Quiver is right where
// memista is not (atomic inserts, 4xx errors, 404 on unknown databases).

#include <cmath>
#include <string>

#include <gtest/gtest.h>

#include "server_harness.h"

namespace quiver::server::testing {
namespace {

Json Chunk(std::initializer_list<float> embedding, const std::string& text,
           const std::string& metadata) {
  return {{"embedding", Vector(embedding)}, {"text", text}, {"metadata", metadata}};
}

Json InsertBody(const std::string& database_id, Json chunks) {
  return {{"database_id", database_id}, {"chunks", std::move(chunks)}};
}

// Memista's error shape: {"error": "<string>"} and nothing else.
void ExpectMemistaError(const Response& response, int status) {
  EXPECT_EQ(response.status, status) << response.raw;
  ASSERT_TRUE(response.body.is_object()) << response.raw;
  EXPECT_EQ(response.body.size(), 1u) << response.raw;
  EXPECT_TRUE(response.body["error"].is_string()) << response.raw;
}

TEST(MemistaTest, InsertSearchDropHaveMemistasShapes) {
  TestServer server;
  Response inserted =
      server.Post("/v1/insert", InsertBody("notes", {Chunk({1, 0}, "east", R"({"page": 1})"),
                                                     Chunk({0, 1}, "north", R"({"page": 2})"),
                                                     Chunk({0.6f, 0.8f}, "between", "")}));
  ASSERT_EQ(inserted.status, 200) << inserted.raw;
  // {"inserted_ids": [n, n+1, n+2]}: consecutive keys chosen by the store.
  ASSERT_EQ(inserted.body.size(), 1u) << inserted.raw;
  ASSERT_EQ(inserted.body["inserted_ids"].size(), 3u) << inserted.raw;
  const std::uint64_t first = inserted.body["inserted_ids"][0];
  EXPECT_EQ(inserted.body["inserted_ids"], Json::array({first, first + 1, first + 2}));
  // Ids continue after the database's highest.
  Response more = server.Post("/v1/insert", InsertBody("notes", {Chunk({-1, 0}, "west", "{}")}));
  ASSERT_EQ(more.status, 200) << more.raw;
  EXPECT_EQ(more.body, (Json{{"inserted_ids", Json::array({first + 3})}}));

  Response found = server.Post(
      "/v1/search",
      Json{{"database_id", "notes"}, {"embeddings", {{1, 0}, {0, 1}}}, {"num_results", 2}});
  ASSERT_EQ(found.status, 200) << found.raw;
  // A bare array: one list per query, each result exactly {text, metadata, score}.
  ASSERT_TRUE(found.body.is_array());
  ASSERT_EQ(found.body.size(), 2u);
  ASSERT_EQ(found.body[0].size(), 2u);
  for (const Json& list : found.body) {
    for (const Json& result : list) {
      EXPECT_EQ(result.size(), 3u) << result;
      EXPECT_TRUE(result["text"].is_string());
      EXPECT_TRUE(result["metadata"].is_string() || result["metadata"].is_null());
      EXPECT_TRUE(result["score"].is_number());
    }
  }
  // Metric ip, like memista: score = 1 - dot, lower is closer.
  EXPECT_EQ(found.body[0][0]["text"], "east");
  EXPECT_EQ(found.body[0][0]["metadata"], R"({"page": 1})");
  EXPECT_NEAR(found.body[0][0]["score"].get<double>(), 0.0, 1e-5);
  EXPECT_EQ(found.body[0][1]["text"], "between");
  // Stored empty; the store keeps empty metadata as the empty object.
  EXPECT_TRUE(found.body[0][1]["metadata"].is_null() || found.body[0][1]["metadata"] == "{}")
      << found.body[0][1];
  EXPECT_NEAR(found.body[0][1]["score"].get<double>(), 1.0 - 0.6, 1e-5);
  EXPECT_EQ(found.body[1][0]["text"], "north");

  Response dropped = server.Delete("/v1/drop", Json{{"database_id", "notes"}});
  ASSERT_EQ(dropped.status, 200) << dropped.raw;
  EXPECT_EQ(dropped.body["status"], "success");
  EXPECT_TRUE(dropped.body["message"].is_string());
  EXPECT_EQ(dropped.body.size(), 2u);
  EXPECT_EQ(server.Count("notes"), -1);
}

TEST(MemistaTest, FirstInsertCreatesCollectionWithItsDimensionsAndIp) {
  TestServer server;
  ASSERT_EQ(server.Post("/v1/insert", InsertBody("docs", {Chunk({1, 2, 3}, "a", "")})).status, 200);
  Response collection = server.Get("/v2/collections/docs");
  ASSERT_EQ(collection.status, 200) << collection.raw;
  EXPECT_EQ(collection.body["config"]["dimensions"], 3);
  EXPECT_EQ(collection.body["config"]["metric"], "ip");
  EXPECT_EQ(collection.body["records"], 1);
}

TEST(MemistaTest, SearchOnUnknownDatabaseIs404AndCreatesNothing) {
  TestServer server;
  Response response = server.Post(
      "/v1/search", Json{{"database_id", "ghost"}, {"embeddings", {{1, 0}}}, {"num_results", 1}});
  ExpectMemistaError(response, 404);
  EXPECT_TRUE(server.CollectionNames().empty());
}

TEST(MemistaTest, DropOfUnknownDatabaseSucceedsLikeMemista) {
  TestServer server;
  Response response = server.Delete("/v1/drop", Json{{"database_id", "ghost"}});
  EXPECT_EQ(response.status, 200) << response.raw;
  EXPECT_EQ(response.body["status"], "success");
}

TEST(MemistaTest, InsertIsAtomicOneBadChunkWritesNothing) {
  TestServer server;
  // Into a new database: the bad third chunk (3 values, not 2) means the
  // database is not even created.
  Response response = server.Post(
      "/v1/insert", InsertBody("atomic", {Chunk({1, 0}, "a", ""), Chunk({0, 1}, "b", ""),
                                          Chunk({1, 1, 1}, "c", "")}));
  ExpectMemistaError(response, 400);
  EXPECT_NE(response.body["error"].get<std::string>().find("chunks[2].embedding"),
            std::string::npos)
      << response.raw;
  EXPECT_EQ(server.Count("atomic"), -1);

  // Into an existing one: nothing is added.
  ASSERT_EQ(server.Post("/v1/insert", InsertBody("atomic", {Chunk({1, 0}, "a", "")})).status, 200);
  ExpectMemistaError(server.Post("/v1/insert", InsertBody("atomic", {Chunk({1, 0}, "ok", ""),
                                                                     Chunk({0, 1}, "bad", "[1]")})),
                     400);
  ExpectMemistaError(
      server.Post("/v1/insert", InsertBody("atomic", {Chunk({1, 0, 0}, "wrong dims", "")})), 400);
  EXPECT_EQ(server.Count("atomic"), 1);
}

TEST(MemistaTest, ClientErrorsAre4xxWithMemistasErrorShape) {
  TestServer server;
  ExpectMemistaError(server.Post("/v1/insert", std::string("{not json")), 400);
  ExpectMemistaError(server.Post("/v1/insert", Json{{"chunks", Json::array()}}), 400);
  ExpectMemistaError(server.Post("/v1/insert", InsertBody("x", Json::array())), 400);
  ExpectMemistaError(server.Post("/v1/insert", InsertBody("../x", {Chunk({1}, "a", "")})), 400);
  ExpectMemistaError(server.Post("/v1/insert", InsertBody("a;DROP TABLE", {Chunk({1}, "a", "")})),
                     400);
  ExpectMemistaError(
      server.Post("/v1/search",
                  Json{{"database_id", "x"}, {"embeddings", {{1}}}, {"num_results", 0}}),
      400);
  ExpectMemistaError(server.Delete("/v1/drop", Json{{"database_id", 7}}), 400);
  ExpectMemistaError(server.Post("/v1/nope", Json::object()), 404);
  ExpectMemistaError(server.Get("/v1/insert"), 405);
  ExpectMemistaError(server.Post("/v1/insert", std::string("{}"), "text/plain"), 415);
  EXPECT_TRUE(server.CollectionNames().empty());
}

}  // namespace
}  // namespace quiver::server::testing
