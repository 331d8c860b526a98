// Copyright (c) Quiver authors.
//
// /healthz, /readyz, /metrics, /openapi.json and /docs; the OpenAPI document
// describes exactly the routes the server serves.

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <sqlite3.h>

#include "server_harness.h"

namespace quiver::server::testing {
namespace {

// A collection damaged outside Quiver (its metric changed in the catalog) is
// quarantined at start: listed with the reason, refused with a clear error,
// counted in /metrics; the other collection serves.
TEST(OperationsTest, QuarantinedCollectionIsListedAndRefusedWhileOthersServe) {
  TestServer server;
  for (const char* name : {"bad", "good"}) {
    server.CreateCollection(name, 2);
    ASSERT_EQ(server
                  .Post(std::string("/v2/collections/") + name + "/records",
                        Json{{"records", {{{"id", 1}, {"embedding", Vector({1, 2})}}}}})
                  .status,
              200);
  }
  server.Stop();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((server.data_dir() + "/quiver.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE collections SET metric='ip' WHERE name='bad'", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  server.Start();

  Response list = server.Get("/v2/collections");
  ASSERT_EQ(list.status, 200) << list.raw;
  ASSERT_EQ(list.body["collections"].size(), 2u);
  EXPECT_EQ(list.body["collections"][0]["name"], "bad");
  EXPECT_NE(list.body["collections"][0].value("damage", "").find("checksum"), std::string::npos)
      << list.raw;
  EXPECT_FALSE(list.body["collections"][1].contains("damage"));
  Response refused = server.Get("/v2/collections/bad/records/count");
  EXPECT_EQ(refused.status, 500) << refused.raw;
  EXPECT_NE(refused.raw.find("quarantined"), std::string::npos) << refused.raw;
  EXPECT_EQ(server.Count("good"), 1);
  Response metrics = server.Get("/metrics");
  EXPECT_NE(metrics.raw.find("\nquiver_collections_quarantined 1\n"), std::string::npos);
}

TEST(OperationsTest, HealthAndReadiness) {
  TestServer server;
  Response health = server.Get("/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, Json::parse(R"({"status": "ok"})"));
  Response ready = server.Get("/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.body, Json::parse(R"({"status": "ready"})"));
}

TEST(OperationsTest, MetricsCountRequestsAndShowCollections) {
  TestServer server;
  server.CreateCollection("m", 2);
  ASSERT_EQ(server
                .Post("/v2/collections/m/records",
                      Json{{"records", {{{"id", 1}, {"embedding", Vector({1, 2})}}}}})
                .status,
            200);
  server.Get("/nowhere");
  Response metrics = server.Get("/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  const std::string& text = metrics.raw;
  for (
      const char* expected : {
          R"(quiver_http_requests_total{method="POST",route="/v2/collections",status="201"} 1)",
          R"(quiver_http_requests_total{method="POST",route="/v2/collections/{name}/records",status="200"} 1)",
          R"(quiver_http_requests_total{method="GET",route="unmatched",status="404"} 1)",
          R"(quiver_http_request_duration_seconds_bucket{method="POST",route="/v2/collections",le="+Inf"} 1)",
          R"(quiver_collection_records{collection="m"} 1)",
          R"(quiver_collection_index_vectors{collection="m"} 1)",
          "# TYPE quiver_collection_change_log_length gauge",
          "quiver_collection_last_checkpoint_duration_seconds{collection=\"m\"}",
          R"(quiver_collection_unreachable_vectors{collection="m"} 0)",
          "# TYPE quiver_checkpoint_duration_seconds histogram",
      }) {
    EXPECT_NE(text.find(expected), std::string::npos) << "missing: " << expected << "\n" << text;
  }
}

// {parameter} -> a value that exists, so that the route's handler runs.
std::string Concrete(std::string path) {
  for (std::size_t at; (at = path.find('{')) != std::string::npos;) {
    const std::string parameter = path.substr(at + 1, path.find('}', at) - at - 1);
    path.replace(at, parameter.size() + 2, parameter == "file" ? "swagger-ui.css" : "described");
  }
  return path;
}

TEST(OperationsTest, OpenApiDescribesExactlyTheServedRoutes) {
  TestServer server;
  Response document = server.Get("/openapi.json");
  ASSERT_EQ(document.status, 200);
  ASSERT_TRUE(document.body.is_object()) << "openapi.json is not valid JSON";
  EXPECT_EQ(document.body["openapi"].get<std::string>().substr(0, 2), "3.");

  std::set<std::pair<std::string, std::string>> described;
  for (const auto& [path, item] : document.body["paths"].items()) {
    for (const auto& [method, operation] : item.items()) {
      if (method == "parameters") continue;
      std::string upper = method;
      for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      described.emplace(upper, path);
      EXPECT_TRUE(operation.contains("responses")) << method << " " << path;
    }
  }
  std::set<std::pair<std::string, std::string>> served;
  for (const auto& route : server.server().routes()) served.insert(route);
  EXPECT_EQ(described, served);

  // And every described route answers over HTTP (not "no route", not "wrong method").
  server.CreateCollection("described", 2);
  for (const auto& [method, path] : described) {
    SCOPED_TRACE(method + " " + path);
    auto client = server.Client();
    const std::string target = Concrete(path);
    httplib::Result result = method == "GET" ? client->Get(target.c_str())
                             : method == "POST"
                                 ? client->Post(target.c_str(), "{}", "application/json")
                                 : client->Delete(target.c_str(), "{}", "application/json");
    Response response = ToResponse(result);
    EXPECT_NE(response.status, 405) << response.raw;
    if (response.status == 404) {
      // Native errors carry the code; Chroma's ({"error": "NotFoundError", "message"}) do not,
      // so the unrouted message "no route ..." is what tells the two apart there.
      const Json& error = response.body["error"];
      if (error.is_object()) {
        EXPECT_NE(error["code"], "route_not_found") << response.raw;
      } else {
        EXPECT_FALSE(response.body.value("message", "").starts_with("no route")) << response.raw;
      }
    }
  }
}

TEST(OperationsTest, OpenApiFileIsTheServedDocument) {
  TestServer server;
  std::ifstream file(std::string(QUIVER_SOURCE_DIR) + "/server/openapi.json");
  std::stringstream contents;
  contents << file.rdbuf();
  EXPECT_EQ(server.Get("/openapi.json").raw, contents.str());
}

TEST(OperationsTest, DocsPageAndLocalAssets) {
  TestServer server;
  Response page = server.Get("/docs");
  ASSERT_EQ(page.status, 200);
  EXPECT_NE(page.raw.find("/docs/swagger-ui-bundle.js"), std::string::npos);
  EXPECT_NE(page.raw.find("/openapi.json"), std::string::npos);
  // Served from here, never from a CDN: no absolute URL at all.
  EXPECT_EQ(page.raw.find("http://"), std::string::npos) << page.raw;
  EXPECT_EQ(page.raw.find("https://"), std::string::npos) << page.raw;
  // Only the known asset names are served; nothing else reaches the filesystem.
  EXPECT_EQ(server.Get("/docs/..%2F..%2Fserver%2Fserver.h").status, 404);
  EXPECT_EQ(server.Get("/docs/index.html").status, 404);
  const std::string assets = std::string(QUIVER_SOURCE_DIR) + "/third_party/swagger-ui";
  if (!std::filesystem::exists(assets + "/swagger-ui-bundle.js")) {
    GTEST_SKIP() << "swagger-ui-dist not installed (scripts/setup.sh)";
  }
  Response bundle = server.Get("/docs/swagger-ui-bundle.js");
  EXPECT_EQ(bundle.status, 200);
  EXPECT_EQ(bundle.raw.size(), std::filesystem::file_size(assets + "/swagger-ui-bundle.js"));
  EXPECT_EQ(server.Get("/docs/swagger-ui.css").header("Content-Type"), "text/css; charset=utf-8");
}

}  // namespace
}  // namespace quiver::server::testing
