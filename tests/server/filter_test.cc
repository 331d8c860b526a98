// Copyright (c) Quiver authors.
//
// /v2 with filters (docs/filters.md), listing, and the one id rule shared
// with the CLI.

#include <cstdlib>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "quiver/record.h"
#include "server_harness.h"

namespace quiver::server::testing {
namespace {

/// Four fruits with string ids, colours and prices.
void AddFruits(const TestServer& server) {
  server.CreateCollection("fruits", 3, "cos");
  Response upserted = server.Post("/v2/collections/fruits/records", Json::parse(R"({"records": [
        {"id": "apple", "embedding": [0.9, 0.1, 0.0], "text": "a red apple", "metadata": {"color": "red", "price": 3}},
        {"id": "lime", "embedding": [0.1, 0.9, 0.1], "text": "a green lime", "metadata": {"color": "green", "price": 1.5}},
        {"id": "plum", "embedding": [0.5, 0.0, 0.8], "text": "a purple plum", "metadata": {"color": "purple"}},
        {"id": "kiwi", "embedding": [0.2, 0.8, 0.2], "text": "a green kiwi", "metadata": {"color": "green", "price": 0.5}}]})"));
  ASSERT_EQ(upserted.status, 200) << upserted.raw;
}

TEST(FilterRoutesTest, QueryWithWhereMaxDistanceAndExplain) {
  TestServer server;
  AddFruits(server);
  Response found = server.Post("/v2/collections/fruits/query",
                               Json::parse(R"({"vector": [1, 0.2, 0], "k": 3, "explain": true,
                                               "where": {"color": "green"}})"));
  ASSERT_EQ(found.status, 200) << found.raw;
  ASSERT_EQ(found.body["results"][0].size(), 2u) << found.raw;
  EXPECT_EQ(found.body["results"][0][0]["id"], "kiwi");
  EXPECT_EQ(found.body["results"][0][1]["id"], "lime");
  EXPECT_EQ(found.body["plan"]["strategy"], "exact");
  EXPECT_EQ(found.body["plan"]["matching"], 2);
  EXPECT_EQ(found.body["plan"]["total"], 4);

  Response near =
      server.Post("/v2/collections/fruits/query",
                  Json::parse(R"({"vector": [1, 0.2, 0], "k": 4, "max_distance": 0.1})"));
  ASSERT_EQ(near.status, 200) << near.raw;
  ASSERT_EQ(near.body["results"][0].size(), 1u) << near.raw;
  EXPECT_EQ(near.body["results"][0][0]["id"], "apple");

  Response bad = server.Post(
      "/v2/collections/fruits/query",
      Json::parse(
          R"({"vector": [1, 0.2, 0], "where": {"$and": [{"color": "red"}, {"price": {"$gt": {}}}]}})"));
  EXPECT_EQ(bad.status, 400) << bad.raw;
  EXPECT_NE(bad.body["error"]["message"].get<std::string>().find("where.$and[1].price.$gt"),
            std::string::npos)
      << bad.raw;
}

TEST(FilterRoutesTest, CountGetListAndDeleteByFilter) {
  TestServer server;
  AddFruits(server);
  Response count = server.Post("/v2/collections/fruits/records/count",
                               Json::parse(R"({"where": {"price": {"$lt": 2}}})"));
  ASSERT_EQ(count.status, 200) << count.raw;
  EXPECT_EQ(count.body["count"], 2);

  Response page = server.Post("/v2/collections/fruits/records/get",
                              Json::parse(R"({"where": {"color": {"$ne": "red"}}, "limit": 2})"));
  ASSERT_EQ(page.status, 200) << page.raw;
  ASSERT_EQ(page.body["records"].size(), 2u);
  ASSERT_TRUE(page.body["next_cursor"].is_string());
  Response rest = server.Post("/v2/collections/fruits/records/get",
                              Json{{"where", {{"color", {{"$ne", "red"}}}}},
                                   {"limit", 2},
                                   {"cursor", page.body["next_cursor"]}});
  ASSERT_EQ(rest.status, 200) << rest.raw;
  EXPECT_EQ(rest.body["records"].size(), 1u);
  EXPECT_TRUE(rest.body["next_cursor"].is_null());

  Response listed = server.Get("/v2/collections/fruits/records?limit=3");
  ASSERT_EQ(listed.status, 200) << listed.raw;
  EXPECT_EQ(listed.body["records"].size(), 3u);
  EXPECT_EQ(server.Get("/v2/collections/fruits/records?limit=0").status, 400);
  EXPECT_EQ(server.Get("/v2/collections/fruits/records?cursor=zzz").status, 400);

  Response none = server.Post("/v2/collections/fruits/records/delete",
                              Json::parse(R"({"where": {"color": "black"}})"));
  ASSERT_EQ(none.status, 200) << none.raw;
  EXPECT_EQ(none.body["deleted"], 0);
  Response both = server.Post("/v2/collections/fruits/records/delete",
                              Json::parse(R"({"where": {"color": "red"}, "ids": ["lime"]})"));
  EXPECT_EQ(both.status, 400) << both.raw;
  Response deleted = server.Post("/v2/collections/fruits/records/delete",
                                 Json::parse(R"({"where": {"color": "green"}})"));
  ASSERT_EQ(deleted.status, 200) << deleted.raw;
  EXPECT_EQ(deleted.body["deleted"], 2);
  EXPECT_EQ(server.Count("fruits"), 2);
}

TEST(FilterRoutesTest, AnIntegerIdNeverReachesAStringIdsRecord) {
  TestServer server;
  server.CreateCollection("c", 2);
  ASSERT_EQ(server
                .Post("/v2/collections/c/records",
                      Json::parse(R"({"records": [{"id": "alice-doc", "embedding": [1, 0]}]})"))
                .status,
            200);
  const std::uint64_t key = KeyForStringId("alice-doc");
  Response overwrite =
      server.Post("/v2/collections/c/records",
                  Json{{"records", {{{"id", key}, {"embedding", {0, 1}}, {"text", "intruder"}}}}});
  EXPECT_EQ(overwrite.status, 400) << overwrite.raw;
  Response get = server.Post("/v2/collections/c/records/get", Json{{"ids", {key}}});
  ASSERT_EQ(get.status, 200);
  EXPECT_EQ(get.body["records"].size(), 0u) << get.raw;
  Response del = server.Post("/v2/collections/c/records/delete", Json{{"ids", {key}}});
  ASSERT_EQ(del.status, 200);
  EXPECT_EQ(del.body["deleted"], 0);
  Response by_id =
      server.Post("/v2/collections/c/records/get", Json::parse(R"({"ids": ["alice-doc"]})"));
  ASSERT_EQ(by_id.body["records"].size(), 1u);
  EXPECT_EQ(by_id.body["records"][0]["text"], "");
}

// JSONL imported with `quiver import` is read and updated over /v2 by its ids.
TEST(FilterRoutesTest, ImportedJsonlIsFoundAndUpdatedByStringId) {
  TestServer server;
  server.Stop();
  const std::string jsonl = server.data_dir() + "-fruits.jsonl";
  {
    std::ofstream out(jsonl);
    out << R"({"id": "apple", "embedding": [0.9, 0.1, 0.0], "text": "a red apple"})"
        << "\n"
        << R"({"id": "lime", "embedding": [0.1, 0.9, 0.1], "text": "a green lime"})"
        << "\n";
  }
  const std::string command = std::string(QUIVER_BINARY) + " import --data " + server.data_dir() +
                              " --collection fruits --create --metric cos " + jsonl +
                              " >/dev/null 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  std::remove(jsonl.c_str());
  server.Start();
  Response get = server.Post("/v2/collections/fruits/records/get",
                             Json::parse(R"({"ids": ["apple", "lime"]})"));
  ASSERT_EQ(get.status, 200) << get.raw;
  ASSERT_EQ(get.body["records"].size(), 2u) << get.raw;
  EXPECT_EQ(get.body["records"][0]["text"], "a red apple");
  Response update = server.Post(
      "/v2/collections/fruits/records",
      Json::parse(
          R"({"records": [{"id": "apple", "embedding": [1, 0, 0], "text": "a ripe apple"}]})"));
  ASSERT_EQ(update.status, 200) << update.raw;
  EXPECT_EQ(server.Count("fruits"), 2);
  Response again =
      server.Post("/v2/collections/fruits/records/get", Json::parse(R"({"ids": ["apple"]})"));
  EXPECT_EQ(again.body["records"][0]["text"], "a ripe apple");
}

}  // namespace
}  // namespace quiver::server::testing
