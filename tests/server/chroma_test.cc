// Copyright (c) Quiver authors.
//
// /api/v2, Chroma's REST API (server/chroma_routes.cc): the error cases its
// clients depend on (404 / 409 / 400 / 501 with Chroma's {"error", "message"}
// body), the mapping of spaces onto distances, and the catalog's durability.
// The happy path through Chroma's own client is tests/chroma/scenario.mjs.

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "quiver/store.h"
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

// Adds records (ids, 2-d embeddings, documents) to Chroma collection `id`; expects 201.
void AddRecords(TestServer& server, const std::string& id, const std::vector<std::string>& ids) {
  Json embeddings = Json::array(), documents = Json::array();
  for (std::size_t i = 0; i < ids.size(); ++i) {
    embeddings.push_back(Vector({1, static_cast<float>(i)}));
    documents.push_back("doc " + ids[i]);
  }
  Response added =
      server.Post(RecordRoute(id, "add"),
                  Json{{"ids", ids}, {"embeddings", embeddings}, {"documents", documents}});
  EXPECT_EQ(added.status, 201) << added.raw;
}

// The ids a get answers.
Json GetIds(TestServer& server, const std::string& id, const Json& body) {
  Response got = server.Post(RecordRoute(id, "get"), body);
  EXPECT_EQ(got.status, 200) << got.raw;
  return got.body["ids"];
}

TEST(ChromaTest, GetReturnsRecordsInInsertionOrder) {
  TestServer server;
  const std::string id = CreateChroma(server, "ordered");
  // Ids whose hash order differs from the order they are added in.
  const std::vector<std::string> ids = {"zeta", "alpha", "mu", "beta", "omega", "kappa"};
  AddRecords(server, id, {ids[0], ids[1], ids[2]});
  AddRecords(server, id, {ids[3], ids[4], ids[5]});
  EXPECT_EQ(GetIds(server, id, Json::object()), Json(ids));
  // Paging follows the same order; so does a get by ids, whatever order they are asked in.
  EXPECT_EQ(GetIds(server, id, Json{{"limit", 2}, {"offset", 3}}), Json({"beta", "omega"}));
  EXPECT_EQ(GetIds(server, id, Json{{"ids", {"kappa", "nothing", "zeta", "mu"}}}),
            Json({"zeta", "mu", "kappa"}));
  EXPECT_EQ(
      GetIds(server, id,
             Json{{"ids", {"kappa", "zeta", "mu"}}, {"where_document", {{"$not_contains", "mu"}}}}),
      Json({"zeta", "kappa"}));
  // An upsert keeps a record's place; deleting and adding again moves it to the end.
  ASSERT_EQ(server
                .Post(RecordRoute(id, "upsert"),
                      Json{{"ids", {"alpha"}}, {"embeddings", {Vector({2, 2})}}})
                .status,
            200);
  ASSERT_EQ(server.Post(RecordRoute(id, "delete"), Json{{"ids", {"mu"}}}).status, 200);
  AddRecords(server, id, {"mu"});
  EXPECT_EQ(GetIds(server, id, Json::object()),
            Json({"zeta", "alpha", "beta", "omega", "kappa", "mu"}));
  // And after a restart.
  server.Restart();
  EXPECT_EQ(GetIds(server, id, Json{{"offset", 4}}), Json({"kappa", "mu"}));
}

TEST(ChromaTest, UpdateChangesStoredRecordsMergesMetadataAndIgnoresUnknownIds) {
  TestServer server;
  const std::string id = CreateChroma(server, "updated");
  ASSERT_EQ(server
                .Post(RecordRoute(id, "add"),
                      Json{{"ids", {"a", "b"}},
                           {"embeddings", {Vector({1, 0}), Vector({0, 1})}},
                           {"documents", {"first", "second"}},
                           {"metadatas", {{{"color", "red"}, {"price", 3}}, {{"color", "blue"}}}}})
                .status,
            201);
  Response update = server.Post(
      RecordRoute(id, "update"),
      Json{{"ids", {"a", "ghost"}},
           {"documents", {"first, again", "boo"}},
           {"metadatas", {{{"price", 4}, {"color", nullptr}, {"size", "L"}}, {{"x", 1}}}}});
  ASSERT_EQ(update.status, 200) << update.raw;
  // Only an embedding: the rest stays.
  ASSERT_EQ(server
                .Post(RecordRoute(id, "update"),
                      Json{{"ids", {"b"}}, {"embeddings", {Vector({0.5f, 0.5f})}}})
                .status,
            200);
  Response got = server.Post(RecordRoute(id, "get"),
                             Json{{"include", {"documents", "metadatas", "embeddings"}}});
  ASSERT_EQ(got.status, 200) << got.raw;
  EXPECT_EQ(got.body["ids"], Json({"a", "b"})) << "the unknown id was not added";
  EXPECT_EQ(got.body["documents"], Json({"first, again", "second"}));
  EXPECT_EQ(got.body["metadatas"][0], Json({{"price", 4}, {"size", "L"}}));
  EXPECT_EQ(got.body["metadatas"][1], Json({{"color", "blue"}}));
  EXPECT_EQ(got.body["embeddings"][1], Vector({0.5f, 0.5f}));
  // Upsert merges metadata too.
  ASSERT_EQ(server
                .Post(RecordRoute(id, "upsert"), Json{{"ids", {"b"}},
                                                      {"embeddings", {Vector({0, 1})}},
                                                      {"metadatas", {{{"price", 9}}}}})
                .status,
            200);
  EXPECT_EQ(server.Post(RecordRoute(id, "get"), Json{{"ids", {"b"}}}).body["metadatas"][0],
            Json({{"color", "blue"}, {"price", 9}}));
  // A wrong dimension is a 400 naming the entry, and the batch writes nothing.
  Response bad =
      server.Post(RecordRoute(id, "update"), Json{{"ids", {"a", "b"}},
                                                  {"embeddings", {nullptr, Vector({1, 2, 3})}},
                                                  {"documents", {"changed", "changed"}}});
  ExpectChromaError(bad, 400, "InvalidArgumentError");
  EXPECT_NE(bad.body.value("message", "").find("embeddings[1]"), std::string::npos) << bad.raw;
  EXPECT_EQ(server.Post(RecordRoute(id, "get"), Json{{"ids", {"a"}}}).body["documents"][0],
            "first, again");
  // An update of a collection that never had records changes nothing and creates nothing.
  const std::string empty = CreateChroma(server, "empty");
  ASSERT_EQ(server
                .Post(RecordRoute(empty, "update"),
                      Json{{"ids", {"a"}}, {"embeddings", {Vector({1, 0})}}})
                .status,
            200);
  EXPECT_EQ(server.Get(RecordRoute(empty, "count")).body, 0);
}

TEST(ChromaTest, ModifyRenamesAndChangesMetadataAndConfiguration) {
  TestServer server;
  const std::string id = CreateChroma(server, "before");
  CreateChroma(server, "taken");
  AddRecords(server, id, {"a", "b"});
  const std::string path = Collections() + "/" + id;
  Response renamed = server.Put(path, Json{{"new_name", "after"}, {"new_metadata", {{"v", 2}}}});
  ASSERT_EQ(renamed.status, 200) << renamed.raw;
  ExpectChromaError(server.Get(Collections() + "/before"), 404, "NotFoundError");
  Response after = server.Get(Collections() + "/after");
  ASSERT_EQ(after.status, 200) << after.raw;
  EXPECT_EQ(after.body["id"], id);
  EXPECT_EQ(after.body["metadata"], Json({{"v", 2}}));
  EXPECT_EQ(server.Get(RecordRoute(id, "count")).body, 2) << "the records stay";
  // ef_search changes at once; max_neighbors cannot change under an index that has records.
  ASSERT_EQ(server.Put(path, Json{{"new_configuration", {{"hnsw", {{"ef_search", 150}}}}}}).status,
            200);
  EXPECT_EQ(server.Get(Collections() + "/after").body["configuration_json"]["hnsw"]["ef_search"],
            150);
  Response neighbors =
      server.Put(path, Json{{"new_configuration", {{"hnsw", {{"max_neighbors", 32}}}}}});
  ExpectChromaError(neighbors, 400, "InvalidArgumentError");
  EXPECT_NE(neighbors.body.value("message", "").find("max_neighbors"), std::string::npos);
  // The errors: a taken name, a bad name, empty metadata, the space, an unknown field.
  ExpectChromaError(server.Put(path, Json{{"new_name", "taken"}}), 409, "UniqueConstraintError");
  ExpectChromaError(server.Put(path, Json{{"new_name", "x"}}), 400, "InvalidArgumentError");
  ExpectChromaError(server.Put(path, Json{{"new_metadata", Json::object()}}), 400,
                    "InvalidArgumentError");
  ExpectChromaError(server.Put(path, Json{{"new_configuration", {{"hnsw", {{"space", "ip"}}}}}}),
                    400, "InvalidArgumentError");
  ExpectChromaError(server.Put(path, Json{{"name", "after2"}}), 400, "InvalidArgumentError");
  EXPECT_EQ(server.Get(Collections() + "/after").body["name"], "after");
  // By UUID, as the client sends it: a name is a 400, an unknown UUID a 404.
  ExpectChromaError(server.Put(Collections() + "/after", Json{{"new_name", "x-y-z"}}), 400,
                    "InvalidArgumentError");
  ExpectChromaError(server.Put(Collections() + "/6f1c2a4e-0000-4000-8000-000000000000",
                               Json{{"new_name", "x-y-z"}}),
                    404, "NotFoundError");
  server.Restart();
  EXPECT_EQ(server.Get(Collections() + "/after").body["configuration_json"]["hnsw"]["ef_search"],
            150);
}

TEST(ChromaTest, DatabasesListAndDeleteWithTheirCollections) {
  TestServer server;
  const std::string tenant = "/api/v2/tenants/default_tenant/databases";
  for (const char* name : {"second", "third"}) {
    ASSERT_EQ(server.Post(tenant, Json{{"name", name}}).status, 200);
  }
  Response list = server.Get(tenant);
  ASSERT_EQ(list.status, 200) << list.raw;
  ASSERT_EQ(list.body.size(), 3u) << list.raw;
  EXPECT_EQ(list.body[0]["name"], "default_database");
  EXPECT_EQ(list.body[0]["id"], "00000000-0000-0000-0000-000000000000");
  EXPECT_EQ(list.body[2]["name"], "third");
  EXPECT_EQ(server.Get(tenant + "?limit=1&offset=1").body[0]["name"], "second");
  EXPECT_EQ(server.Get(tenant + "/second").body["id"], list.body[1]["id"]);
  ExpectChromaError(server.Get(tenant + "?limit=x"), 400, "InvalidArgumentError");

  Response created = server.Post(tenant + "/second/collections", Json{{"name", "inside"}});
  ASSERT_EQ(created.status, 200) << created.raw;
  const std::string inside = created.body["id"];
  ASSERT_EQ(server
                .Post(tenant + "/second/collections/" + inside + "/add",
                      Json{{"ids", {"a"}}, {"embeddings", {Vector({1, 0})}}})
                .status,
            201);
  EXPECT_EQ(server.CollectionNames().size(), 1u);
  ASSERT_EQ(server.Delete(tenant + "/second").status, 200);
  ExpectChromaError(server.Get(tenant + "/second"), 404, "NotFoundError");
  ExpectChromaError(server.Delete(tenant + "/second"), 404, "NotFoundError");
  EXPECT_TRUE(server.CollectionNames().empty()) << "the records went with the database";
  // Created again, it is empty.
  ASSERT_EQ(server.Post(tenant, Json{{"name", "second"}}).status, 200);
  EXPECT_EQ(server.Get(tenant + "/second/collections").body, Json::array());
  server.Restart();
  EXPECT_EQ(server.Get(tenant).body.size(), 3u);
  // Tenants and databases need 3 characters at least, as with Chroma.
  ExpectChromaError(server.Post(tenant, Json{{"name", "ab"}}), 400, "InvalidArgumentError");
  ExpectChromaError(server.Post("/api/v2/tenants", Json{{"name", "ab"}}), 400,
                    "InvalidArgumentError");
}

TEST(ChromaTest, ResetHealthcheckForkAndSearch) {
  TestServer server;
  const std::string id = CreateChroma(server, "kept");
  AddRecords(server, id, {"a"});
  Response reset = server.Post("/api/v2/reset", Json::object());
  EXPECT_EQ(reset.status, 403) << reset.raw;
  EXPECT_EQ(reset.body["error"], "ChromaError");
  EXPECT_NE(reset.body.value("message", "").find("Reset is disabled"), std::string::npos);
  EXPECT_EQ(server.Get(RecordRoute(id, "count")).body, 1) << "reset changed nothing";
  Response health = server.Get("/api/v2/healthcheck");
  ASSERT_EQ(health.status, 200) << health.raw;
  EXPECT_EQ(health.body["is_executor_ready"], true);
  ExpectChromaError(server.Post(RecordRoute(id, "fork"), Json{{"new_name", "copy"}}), 501,
                    "NotImplementedError");
  ExpectChromaError(server.Post(RecordRoute(id, "search"), Json::object()), 501,
                    "NotImplementedError");
}

TEST(ChromaTest, XChromaTokenAuthenticatesOnChromasRoutesOnly) {
  TestServer server([](ServerOptions& options) { options.api_key = "secret-key"; });
  auto client = server.Client();
  EXPECT_EQ(ToResponse(client->Get("/api/v2/tenants/default_tenant")).status, 401);
  httplib::Headers good = {{"X-Chroma-Token", "secret-key"}};
  httplib::Headers bad = {{"X-Chroma-Token", "wrong-key"}};
  EXPECT_EQ(ToResponse(client->Get("/api/v2/tenants/default_tenant", good)).status, 200);
  ExpectChromaError(ToResponse(client->Get("/api/v2/tenants/default_tenant", bad)), 401,
                    "AuthError");
  // Quiver's own API takes the key as a bearer token only.
  EXPECT_EQ(ToResponse(client->Get("/v2/collections", good)).status, 401);
  server.UseApiKey("secret-key");
  EXPECT_EQ(server.Get("/api/v2/tenants/default_tenant").status, 200);
}

TEST(ChromaTest, CatalogIsInTheStoreSoABackupCarriesIt) {
  quiver::testing::TempDir copy_parent;
  const std::string copy = copy_parent.path() + "/copy";
  std::string id;
  std::string data_dir;
  {
    TestServer server;
    data_dir = server.data_dir();
    id = CreateChroma(server, "backed-up", "cosine");
    AddRecords(server, id, {"b", "a"});
    ASSERT_EQ(server.Post("/api/v2/tenants", Json{{"name", "acme"}}).status, 200);
    server.Stop();
    EXPECT_FALSE(std::filesystem::exists(data_dir + "/chroma-catalog.json"));
    StoreOptions options;
    options.logger = [](LogLevel, std::string_view) {};
    Result<std::unique_ptr<Store>> store = Store::Open(data_dir, options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    ASSERT_TRUE((*store)->Backup(copy).ok());
    ASSERT_TRUE((*store)->Close().ok());
  }
  TestServer restored([&](ServerOptions& options) { options.data_dir = copy; });
  Response collection = restored.Get(Collections() + "/backed-up");
  ASSERT_EQ(collection.status, 200) << collection.raw;
  EXPECT_EQ(collection.body["id"], id);
  EXPECT_EQ(collection.body["configuration_json"]["hnsw"]["space"], "cosine");
  EXPECT_EQ(GetIds(restored, id, Json::object()), Json({"b", "a"}));
  EXPECT_EQ(restored.Get("/api/v2/tenants/acme").status, 200);
}

TEST(ChromaTest, ALegacyCatalogFileIsImportedOnceAndRemoved) {
  quiver::testing::TempDir dir;
  const std::string uuid = "0b0e7a56-1d2c-4a3b-9c8d-7e6f5a4b3c2d";
  {
    // What the first slice left: the records in chroma-<uuid>, the names in the file.
    StoreOptions options;
    options.logger = [](LogLevel, std::string_view) {};
    Result<std::unique_ptr<Store>> store = Store::Open(dir.path(), options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    CollectionConfig config;
    config.dimensions = 2;
    config.metric = Metric::kCos;
    Result<std::shared_ptr<Collection>> records =
        (*store)->CreateCollection("chroma-" + uuid, config);
    ASSERT_TRUE(records.ok()) << records.status().ToString();
    Record record;
    record.id = "r1";
    record.key = KeyForStringId("r1");
    record.embedding = {1, 0};
    record.text = "kept text";
    ASSERT_TRUE((*records)->Upsert({record}).ok());
    ASSERT_TRUE((*store)->Close().ok());
    std::ofstream file(dir.path() + "/chroma-catalog.json");
    file << Json{{"version", 1},
                 {"tenants", {"acme"}},
                 {"databases", {{{"tenant", "acme"}, {"name", "sales"}}}},
                 {"collections",
                  {{{"id", uuid},
                    {"tenant", "default_tenant"},
                    {"database", "default_database"},
                    {"name", "legacy"},
                    {"metadata", {{"k", 1}}},
                    {"configuration", {{"hnsw", {{"space", "cosine"}}}}},
                    {"metric", "cos"},
                    {"connectivity", 16},
                    {"expansion_add", 128},
                    {"expansion_search", 64}}}}}
                .dump();
  }
  std::vector<std::string> logged;
  std::mutex logged_mu;
  auto start = [&](ServerOptions& options) {
    options.data_dir = dir.path();
    options.logger = [&](LogLevel, std::string_view line) {
      std::lock_guard<std::mutex> lock(logged_mu);
      logged.emplace_back(line);
    };
  };
  {
    TestServer server(start);
    EXPECT_FALSE(std::filesystem::exists(dir.path() + "/chroma-catalog.json"));
    Response legacy = server.Get(Collections() + "/legacy");
    ASSERT_EQ(legacy.status, 200) << legacy.raw;
    EXPECT_EQ(legacy.body["id"], uuid);
    EXPECT_EQ(legacy.body["metadata"], Json({{"k", 1}}));
    Response got = server.Post(RecordRoute(uuid, "get"), Json::object());
    EXPECT_EQ(got.body["documents"], Json({"kept text"})) << got.raw;
    EXPECT_EQ(server.Get("/api/v2/tenants/acme/databases/sales").status, 200);
  }
  bool told = false;
  for (const std::string& line : logged) told = told || line.find("imported") != std::string::npos;
  EXPECT_TRUE(told) << "the import is logged";
  // The next start reads the store alone.
  TestServer again(start);
  EXPECT_EQ(again.Get(Collections() + "/legacy").status, 200);
}

}  // namespace
}  // namespace quiver::server::testing
