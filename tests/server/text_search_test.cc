// Copyright (c) Quiver authors.
//
// /v2/collections/{name}/query by text: "text"/"texts" with "mode"
// fulltext, hybrid or vector (docs/http-api.md, docs/text.md). The server's
// store resolves the test embedder ("test-bow") to embed query texts.

#include <array>
#include <cmath>
#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/test_embedder.h"
#include "server_harness.h"

namespace quiver::server::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TestServer* StartWithEmbedder() {
  return new TestServer([](ServerOptions& options) {
    options.store.embedder_resolver = quiver::testing::BagOfWordsResolver();
  });
}

/// Collection "notes" of the test embedder and collection "plain" without a
/// model.
void AddNotes(const TestServer& server) {
  Response created =
      server.Post("/v2/collections",
                  Json::parse(R"({"name": "notes", "config": {"dimensions": 64, "metric": "cos",
                      "model_id": "test-bow", "model_version": "1"}})"));
  ASSERT_EQ(created.status, 201) << created.raw;
  // Embedded here with the server's model (the route takes embeddings).
  Json records = Json::array();
  for (const auto& [id, text, shop] :
       std::vector<std::array<std::string, 3>>{{"a", "apple apple apple", "x"},
                                               {"b", "apple pie with cream", "y"},
                                               {"c", "banana bread", "x"},
                                               {"d", "an apple a day keeps the doctor away", "y"},
                                               {"e", "cherry tart", "x"}}) {
    records.push_back({{"id", id},
                       {"text", text},
                       {"metadata", {{"shop", shop}}},
                       {"embedding", quiver::testing::BagOfWordsEmbedder::Embed(text)}});
  }
  Response upserted = server.Post("/v2/collections/notes/records", Json{{"records", records}});
  ASSERT_EQ(upserted.status, 200) << upserted.raw;
  server.CreateCollection("plain", 2);
  Response plain = server.Post("/v2/collections/plain/records", Json::parse(R"({"records": [
        {"id": "p", "embedding": [1, 0], "text": "apple juice"}]})"));
  ASSERT_EQ(plain.status, 200) << plain.raw;
}

std::vector<std::string> Ids(const Json& list) {
  std::vector<std::string> ids;
  for (const Json& match : list) ids.push_back(match["id"]);
  return ids;
}

TEST(TextQueryTest, FullTextRanksByBm25WithScoresAndTheFilter) {
  std::unique_ptr<TestServer> server(StartWithEmbedder());
  AddNotes(*server);
  Response found = server->Post("/v2/collections/notes/query",
                                Json::parse(R"({"text": "apple", "mode": "fulltext", "k": 10})"));
  ASSERT_EQ(found.status, 200) << found.raw;
  const Json& list = found.body["results"][0];
  EXPECT_EQ(Ids(list), (std::vector<std::string>{"a", "b", "d"}));
  for (const Json& match : list) {
    EXPECT_GT(match["score"].get<double>(), 0.0) << match;
    EXPECT_TRUE(match["distance"].is_null()) << match;
    EXPECT_TRUE(match.contains("text"));
  }
  EXPECT_GT(list[0]["score"].get<double>(), list[1]["score"].get<double>());

  // "where" before the cut; a plan that says what ran; no model needed.
  Response filtered = server->Post("/v2/collections/notes/query", Json::parse(R"({
      "texts": ["apple", "bread OR tart"], "mode": "fulltext", "k": 1, "explain": true,
      "where": {"shop": "y"}})"));
  ASSERT_EQ(filtered.status, 200) << filtered.raw;
  EXPECT_EQ(Ids(filtered.body["results"][0]), (std::vector<std::string>{"b"}));
  EXPECT_TRUE(filtered.body["results"][1].empty());
  EXPECT_EQ(filtered.body["plan"]["strategy"], "fulltext");
  Response plain = server->Post("/v2/collections/plain/query",
                                Json::parse(R"({"text": "juice", "mode": "fulltext"})"));
  ASSERT_EQ(plain.status, 200) << plain.raw;
  EXPECT_EQ(Ids(plain.body["results"][0]), (std::vector<std::string>{"p"}));
}

TEST(TextQueryTest, HybridFusesBothSidesAndTheFilterAppliesToBoth) {
  std::unique_ptr<TestServer> server(StartWithEmbedder());
  AddNotes(*server);
  // "apple apple apple" embeds exactly as "apple" (distance 0) and is BM25's
  // first: first in both lists, so first fused, with its distance.
  Response found = server->Post("/v2/collections/notes/query",
                                Json::parse(R"({"text": "apple", "mode": "hybrid", "k": 5})"));
  ASSERT_EQ(found.status, 200) << found.raw;
  const Json& list = found.body["results"][0];
  ASSERT_EQ(list.size(), 5u) << found.raw;
  EXPECT_EQ(list[0]["id"], "a");
  EXPECT_NEAR(list[0]["distance"].get<double>(), 0.0, 1e-5);
  EXPECT_NEAR(list[0]["score"].get<double>(), 2.0 / 61, 1e-6);  // rank 1 in both: 2 / (60 + 1)
  for (std::size_t i = 1; i < list.size(); ++i) {
    EXPECT_LE(list[i]["score"].get<double>(), list[i - 1]["score"].get<double>());
  }

  Response filtered = server->Post("/v2/collections/notes/query", Json::parse(R"({
      "text": "apple", "mode": "hybrid", "k": 5, "where": {"shop": "y"},
      "fusion": "weighted", "vector_weight": 0.25, "candidates": 20, "explain": true})"));
  ASSERT_EQ(filtered.status, 200) << filtered.raw;
  const Json& y = filtered.body["results"][0];
  ASSERT_EQ(y.size(), 2u) << filtered.raw;
  for (const Json& match : y) EXPECT_EQ(match["metadata"]["shop"], "y");
  EXPECT_EQ(filtered.body["plan"]["matching"], 2);  // the vector side's plan

  // By text in vector mode: distances, no score.
  Response vector = server->Post("/v2/collections/notes/query",
                                 Json::parse(R"({"text": "cherry tart", "k": 1})"));
  ASSERT_EQ(vector.status, 200) << vector.raw;
  EXPECT_EQ(vector.body["results"][0][0]["id"], "e");
  EXPECT_FALSE(vector.body["results"][0][0].contains("score"));
}

TEST(TextQueryTest, EveryClientMistakeIs4xxNamingTheField) {
  std::unique_ptr<TestServer> server(StartWithEmbedder());
  AddNotes(*server);
  struct Case {
    const char* body;
    int status;
    const char* message;  // the error message starts with this
  };
  const Case cases[] = {
      {R"({"text": "apple AND", "mode": "fulltext", "syntax": "fts5"})", 400,
       "text: fts5: syntax error"},
      {R"({"texts": ["apple", "AND"], "mode": "fulltext", "syntax": "fts5"})", 400,
       "texts[1]: fts5: syntax error near \"AND\""},
      {R"({"texts": ["apple", "(x"], "mode": "hybrid", "syntax": "fts5"})", 400,
       "texts[1]: fts5: syntax error"},
      {R"({"text": "foo:bar", "mode": "fulltext", "syntax": "fts5"})", 400,
       "text: fts5: no such column: foo"},
      {R"({"text": "*reads", "mode": "fulltext", "syntax": "fts5"})", 400,
       "text: fts5: a query cannot start"},
      {R"({"text": "apple", "mode": "fulltext", "syntax": "lucene"})", 400,
       "syntax: 'lucene' is not a query syntax"},
      {R"({"text": "", "mode": "fulltext"})", 400, "text: is empty"},
      {R"({"texts": ["apple", ""]})", 400, "texts[1]: is empty"},
      {R"({"texts": []})", 400, "texts"},
      {R"({"text": 5})", 400, "text"},
      {R"({"text": "apple", "mode": "bm25"})", 400, "mode: 'bm25' is not a mode"},
      {R"({"text": "apple", "mode": "hybrid", "fusion": "max"})", 400, "fusion: 'max'"},
      {R"({"text": "apple", "mode": "hybrid", "rrf_k": 0})", 400, "rrf_k"},
      {R"({"text": "apple", "mode": "hybrid", "rrf_k": 10001})", 400, "rrf_k"},
      {R"({"text": "apple", "mode": "hybrid", "vector_weight": 1.5})", 400, "vector_weight"},
      {R"({"text": "apple", "mode": "hybrid", "vector_weight": "x"})", 400, "vector_weight"},
      {R"({"text": "apple", "mode": "hybrid", "candidates": 10001})", 400, "candidates"},
      {R"({"text": "apple", "mode": "hybrid", "k": 10, "candidates": 5})", 400,
       "candidates: 5 is below k"},
      {R"({"text": "apple", "vector": [1, 2]})", 400, "give exactly one of"},
      {R"({"vector": [0.1], "rrf_k": 5})", 400, "rrf_k: applies to text queries"},
      {R"({"vector": [0.1], "mode": "fulltext"})", 400, "mode: 'fulltext' searches by text"},
      {R"({"text": "apple", "mode": "fulltext", "where": {"shop": {"$gt": {}}}})", 400,
       "where.shop.$gt"},
      {R"({"text": "apple", "mode": "fulltext", "tex": 1})", 400, ""},
  };
  for (const Case& c : cases) {
    Response response = server->Post("/v2/collections/notes/query", std::string(c.body));
    EXPECT_EQ(response.status, c.status) << c.body << " -> " << response.raw;
    EXPECT_THAT(response.body["error"]["message"].get<std::string>(), StartsWith(c.message))
        << c.body;
  }
  std::string long_text(20000, 'a');
  Response too_long = server->Post("/v2/collections/notes/query",
                                   Json{{"texts", {"apple", long_text}}, {"mode", "hybrid"}});
  EXPECT_EQ(too_long.status, 400) << too_long.raw;
  EXPECT_EQ(too_long.body["error"]["message"],
            "texts[1]: 20000 bytes; a full-text query takes at most 16384");
  // Vector and hybrid searches embed the text: a collection without a model
  // refuses them (409, the collection's state), full-text search works.
  Response no_model = server->Post("/v2/collections/plain/query",
                                   Json::parse(R"({"text": "apple", "mode": "hybrid"})"));
  EXPECT_EQ(no_model.status, 409) << no_model.raw;
  EXPECT_THAT(no_model.body["error"]["message"].get<std::string>(),
              HasSubstr("no embedding model"));
}

}  // namespace
}  // namespace quiver::server::testing
