// Copyright (c) Quiver authors.
//
// /api/v2, Chroma's REST API (server/chroma_routes.cc): the error cases its
// clients depend on (404 / 409 / 400 / 501 with Chroma's {"error", "message"}
// body), the mapping of spaces onto distances, and the catalog's durability.
// The happy path through Chroma's own client is tests/chroma/scenario.mjs.

#include <cmath>
#include <string>

#include <gtest/gtest.h>

#include "server_harness.h"

namespace quiver::server::testing {
namespace {

constexpr char kDb[] = "/api/v2/tenants/default_tenant/databases/default_database";

std::string Collections() { return std::string(kDb) + "/collections"; }

// Creates a Chroma collection and returns its id (UUID).
std::string CreateChroma(TestServer& server, const std::string& name,
                         const std::string& space = "l2") {
  Response created = server.Post(
      Collections(), Json{{"name", name}, {"configuration", {{"hnsw", {{"space", space}}}}}});
  EXPECT_EQ(created.status, 200) << created.raw;
  return created.body.value("id", "");
}

// The path of a record route of collection `id`.
std::string RecordRoute(const std::string& id, const std::string& action) {
  return Collections() + "/" + id + "/" + action;
}

// Expects Chroma's error body with this type.
void ExpectChromaError(const Response& response, int status, const std::string& type) {
  EXPECT_EQ(response.status, status) << response.raw;
  EXPECT_EQ(response.body.value("error", ""), type) << response.raw;
  EXPECT_FALSE(response.body.value("message", "").empty()) << response.raw;
}

TEST(ChromaTest, MissingCollectionIs404WithChromasBody) {
  TestServer server;
  ExpectChromaError(server.Get(Collections() + "/nope"), 404, "NotFoundError");
  ExpectChromaError(server.Delete(Collections() + "/nope"), 404, "NotFoundError");
  const std::string unknown = "6f1c2a4e-0000-4000-8000-000000000000";
  ExpectChromaError(server.Get(RecordRoute(unknown, "count")), 404, "NotFoundError");
  ExpectChromaError(server.Post(RecordRoute(unknown, "add"),
                                Json{{"ids", {"a"}}, {"embeddings", {Vector({1, 2})}}}),
                    404, "NotFoundError");
  // So are a missing tenant and database.
  ExpectChromaError(server.Get("/api/v2/tenants/nobody"), 404, "NotFoundError");
  ExpectChromaError(server.Get("/api/v2/tenants/default_tenant/databases/nothing/collections"), 404,
                    "NotFoundError");
  // An unrouted /api/v2 path answers in Chroma's shape too.
  ExpectChromaError(server.Get("/api/v2/no-such-route"), 404, "NotFoundError");
}

TEST(ChromaTest, DuplicateNameIs409AndGetOrCreateReturnsTheExistingOne) {
  TestServer server;
  const std::string id = CreateChroma(server, "docs");
  ExpectChromaError(server.Post(Collections(), Json{{"name", "docs"}}), 409,
                    "UniqueConstraintError");
  Response again = server.Post(Collections(), Json{{"name", "docs"}, {"get_or_create", true}});
  ASSERT_EQ(again.status, 200) << again.raw;
  EXPECT_EQ(again.body["id"], id);
  // The same name in another database is another collection.
  ASSERT_EQ(server.Post("/api/v2/tenants/default_tenant/databases", Json{{"name", "other"}}).status,
            200);
  ExpectChromaError(
      server.Post("/api/v2/tenants/default_tenant/databases", Json{{"name", "other"}}), 409,
      "UniqueConstraintError");
  Response other = server.Post("/api/v2/tenants/default_tenant/databases/other/collections",
                               Json{{"name", "docs"}});
  ASSERT_EQ(other.status, 200) << other.raw;
  EXPECT_NE(other.body["id"], id);
}

TEST(ChromaTest, BadWhereIs400NamingTheNode) {
  TestServer server;
  const std::string id = CreateChroma(server, "docs");
  ASSERT_EQ(server
                .Post(RecordRoute(id, "add"), Json{{"ids", {"a", "b"}},
                                                   {"embeddings", {Vector({1, 0}), Vector({0, 1})}},
                                                   {"metadatas", {{{"price", 3}}, {{"price", 5}}}}})
                .status,
            201);
  const Json bad = {{"price", {{"$bogus", 1}}}};
  Response get = server.Post(RecordRoute(id, "get"), Json{{"where", bad}});
  ExpectChromaError(get, 400, "InvalidArgumentError");
  EXPECT_NE(get.body.value("message", "").find("$bogus"), std::string::npos) << get.raw;
  ExpectChromaError(server.Post(RecordRoute(id, "query"),
                                Json{{"query_embeddings", {Vector({1, 0})}}, {"where", bad}}),
                    400, "InvalidArgumentError");
  ExpectChromaError(server.Post(RecordRoute(id, "delete"), Json{{"where", bad}}), 400,
                    "InvalidArgumentError");
  ExpectChromaError(server.Post(RecordRoute(id, "get"), Json{{"where", "price"}}), 400,
                    "InvalidArgumentError");
  // Nothing was deleted by the refused delete.
  EXPECT_EQ(server.Get(RecordRoute(id, "count")).body, 2);
  // A good where works.
  Response good = server.Post(RecordRoute(id, "get"), Json{{"where", {{"price", {{"$gt", 4}}}}}});
  ASSERT_EQ(good.status, 200) << good.raw;
  EXPECT_EQ(good.body["ids"], Json({"b"}));
}

TEST(ChromaTest, ServerSideEmbeddingIsAClearClientError) {
  TestServer server;
  const std::string id = CreateChroma(server, "docs");
  // Documents without embeddings: Chroma's client would embed them; Quiver's server does not.
  Response add =
      server.Post(RecordRoute(id, "add"), Json{{"ids", {"a"}}, {"documents", {"hello"}}});
  ExpectChromaError(add, 400, "InvalidArgumentError");
  const std::string message = add.body.value("message", "");
  EXPECT_NE(message.find("embeddings"), std::string::npos) << message;
  EXPECT_NE(message.find("embedding functions"), std::string::npos) << message;
  ExpectChromaError(
      server.Post(RecordRoute(id, "query"), Json{{"query_texts", {"hello"}}, {"n_results", 1}}),
      400, "InvalidArgumentError");
  // Base64 embeddings (pre-flight-checks says they are unsupported) and uris.
  ExpectChromaError(
      server.Post(RecordRoute(id, "upsert"), Json{{"ids", {"a"}}, {"embeddings", {"AACAPw=="}}}),
      400, "InvalidArgumentError");
  ExpectChromaError(
      server.Post(RecordRoute(id, "add"),
                  Json{{"ids", {"a"}}, {"embeddings", {Vector({1, 0})}}, {"uris", {"s3://x"}}}),
      501, "NotImplementedError");
  ExpectChromaError(
      server.Post(RecordRoute(id, "get"), Json{{"where_document", {{"$regex", "h.*"}}}}), 501,
      "NotImplementedError");
  EXPECT_EQ(server.Get(RecordRoute(id, "count")).body, 0);
  Response checks = server.Get("/api/v2/pre-flight-checks");
  ASSERT_EQ(checks.status, 200);
  EXPECT_EQ(checks.body["supports_base64_encoding"], false);
}

TEST(ChromaTest, InvalidNamesAndSpacesAre400) {
  TestServer server;
  ExpectChromaError(server.Post(Collections(), Json{{"name", "x"}}), 400, "InvalidArgumentError");
  ExpectChromaError(server.Post(Collections(), Json{{"name", "-bad-"}}), 400,
                    "InvalidArgumentError");
  Response space = server.Post(
      Collections(), Json{{"name", "docs"}, {"configuration", {{"hnsw", {{"space", "hamming"}}}}}});
  ExpectChromaError(space, 400, "InvalidArgumentError");
  EXPECT_NE(space.body.value("message", "").find("configuration.hnsw.space"), std::string::npos);
  ExpectChromaError(server.Post(Collections(), Json{{"name", "docs"}, {"nmae", 1}}), 400,
                    "InvalidArgumentError");
}

TEST(ChromaTest, SpacesGiveChromasDistances) {
  TestServer server;
  for (const char* space : {"l2", "cosine", "ip"}) {
    SCOPED_TRACE(space);
    const std::string id = CreateChroma(server, std::string("space-") + space, space);
    ASSERT_EQ(server
                  .Post(RecordRoute(id, "add"),
                        Json{{"ids", {"a"}}, {"embeddings", {Vector({0.6f, 0.8f})}}})
                  .status,
              201);
    Response query = server.Post(RecordRoute(id, "query"),
                                 Json{{"query_embeddings", {Vector({1, 0})}}, {"n_results", 1}});
    ASSERT_EQ(query.status, 200) << query.raw;
    const double distance = query.body["distances"][0][0];
    // l2: squared L2; cosine: 1 - cos; ip: 1 - dot (both vectors have length 1 here).
    const double expected = std::string(space) == "l2" ? 0.4 * 0.4 + 0.8 * 0.8 : 1 - 0.6;
    EXPECT_NEAR(distance, expected, 1e-5) << query.raw;
    Response collection = server.Get(Collections() + "/space-" + space);
    EXPECT_EQ(collection.body["configuration_json"]["hnsw"]["space"], space);
    EXPECT_EQ(collection.body["dimension"], 2);
  }
}

TEST(ChromaTest, MetadataNumbersComeBackAsStored) {
  TestServer server;
  Response created = server.Post(
      Collections(), Json{{"name", "precise"}, {"metadata", {{"ratio", 1.2345678901234}}}});
  ASSERT_EQ(created.status, 200) << created.raw;
  EXPECT_EQ(created.body["metadata"]["ratio"], 1.2345678901234) << created.raw;
  const std::string id = created.body["id"];
  const Json metadata = {{"price", 0.1}, {"big", 9007199254740993LL}, {"name", "x"}};
  ASSERT_EQ(server
                .Post(RecordRoute(id, "add"), Json{{"ids", {"a", "b"}},
                                                   {"embeddings", {Vector({1, 0}), Vector({0, 1})}},
                                                   {"metadatas", {metadata, nullptr}}})
                .status,
            201);
  Response got = server.Post(RecordRoute(id, "get"), Json{{"ids", {"a", "b"}}});
  ASSERT_EQ(got.status, 200) << got.raw;
  EXPECT_EQ(got.body["metadatas"], Json({metadata, nullptr})) << got.raw;
  Response query = server.Post(RecordRoute(id, "query"),
                               Json{{"query_embeddings", {Vector({1, 0})}}, {"n_results", 1}});
  ASSERT_EQ(query.status, 200) << query.raw;
  EXPECT_EQ(query.body["metadatas"][0][0], metadata) << query.raw;
  Response listed = server.Get(Collections());
  ASSERT_EQ(listed.status, 200) << listed.raw;
  EXPECT_EQ(listed.body[0]["metadata"]["ratio"], 1.2345678901234) << listed.raw;
}

TEST(ChromaTest, QueryWhereDocumentOverItsLimitIs400NamingIt) {
  TestServer server;
  const std::string id = CreateChroma(server, "many");
  Json ids = Json::array(), embeddings = Json::array(), documents = Json::array();
  for (int i = 0; i < 901; ++i) {
    ids.push_back("r" + std::to_string(i));
    embeddings.push_back(Vector({1, static_cast<float>(i)}));
    documents.push_back("same text");
  }
  ASSERT_EQ(server
                .Post(RecordRoute(id, "add"),
                      Json{{"ids", ids}, {"embeddings", embeddings}, {"documents", documents}})
                .status,
            201);
  Response query = server.Post(
      RecordRoute(id, "query"),
      Json{{"query_embeddings", {Vector({1, 0})}}, {"where_document", {{"$contains", "same"}}}});
  ExpectChromaError(query, 400, "InvalidArgumentError");
  EXPECT_TRUE(query.body.value("message", "").starts_with("where_document:")) << query.raw;
  // get has no such limit.
  Response get =
      server.Post(RecordRoute(id, "get"),
                  Json{{"where_document", {{"$contains", "same"}}}, {"include", Json::array()}});
  ASSERT_EQ(get.status, 200) << get.raw;
  EXPECT_EQ(get.body["ids"].size(), 901u);
}

TEST(ChromaTest, CatalogSurvivesARestart) {
  TestServer server;
  const std::string id = CreateChroma(server, "kept", "cosine");
  ASSERT_EQ(server
                .Post(RecordRoute(id, "add"), Json{{"ids", {"a", "b"}},
                                                   {"embeddings", {Vector({1, 0}), Vector({0, 1})}},
                                                   {"documents", {"one", "two"}}})
                .status,
            201);
  ASSERT_EQ(server.Post("/api/v2/tenants", Json{{"name", "acme"}}).status, 200);
  server.Restart();
  Response collection = server.Get(Collections() + "/kept");
  ASSERT_EQ(collection.status, 200) << collection.raw;
  EXPECT_EQ(collection.body["id"], id);
  EXPECT_EQ(collection.body["configuration_json"]["hnsw"]["space"], "cosine");
  EXPECT_EQ(server.Get(RecordRoute(id, "count")).body, 2);
  EXPECT_EQ(server.Get("/api/v2/tenants/acme").status, 200);
  // Deleting drops the records with the entry, also after the restart.
  ASSERT_EQ(server.Delete(Collections() + "/kept").status, 200);
  server.Restart();
  ExpectChromaError(server.Get(Collections() + "/kept"), 404, "NotFoundError");
  EXPECT_TRUE(server.CollectionNames().empty());
}

}  // namespace
}  // namespace quiver::server::testing
