// Copyright (c) Quiver authors.
//
// API-key authentication: every route but /healthz needs the key when one is set.

#include <string>

#include <gtest/gtest.h>

#include "server/auth.h"
#include "server_harness.h"

namespace quiver::server::testing {
namespace {

constexpr char kKey[] = "s3cret-key";

// A request for every route (bodies need not be valid: the key is checked first).
std::vector<std::pair<std::string, std::string>> AllRoutesWithConcretePaths(TestServer& server) {
  std::vector<std::pair<std::string, std::string>> routes;
  for (auto [method, path] : server.server().routes()) {
    for (std::size_t at; (at = path.find('{')) != std::string::npos;) {
      path.replace(at, path.find('}', at) - at + 1, "x");
    }
    routes.emplace_back(method, path);
  }
  return routes;
}

Response Send(TestServer& server, const std::string& method, const std::string& path,
              const httplib::Headers& headers) {
  auto client = server.Client();
  if (method == "GET") return ToResponse(client->Get(path.c_str(), headers));
  if (method == "POST")
    return ToResponse(client->Post(path.c_str(), headers, "{}", "application/json"));
  return ToResponse(client->Delete(path.c_str(), headers, "{}", "application/json"));
}

TEST(AuthTest, WithKeyEveryRouteButHealthzNeedsIt) {
  TestServer server([](ServerOptions& options) { options.api_key = kKey; });
  const httplib::Headers none;
  const httplib::Headers wrong = {{"Authorization", "Bearer s3cret-kex"}};
  const httplib::Headers prefix = {{"Authorization", "Bearer s3cret"}};
  const httplib::Headers basic = {{"Authorization", std::string("Basic ") + kKey}};
  const httplib::Headers right = {{"Authorization", std::string("Bearer ") + kKey}};
  const httplib::Headers lower = {{"Authorization", std::string("bearer ") + kKey}};
  for (const auto& [method, path] : AllRoutesWithConcretePaths(server)) {
    SCOPED_TRACE(method + " " + path);
    if (path == "/healthz") {
      EXPECT_EQ(Send(server, method, path, none).status, 200);
      continue;
    }
    for (const httplib::Headers* headers : {&none, &wrong, &prefix, &basic}) {
      Response refused = Send(server, method, path, *headers);
      EXPECT_EQ(refused.status, 401) << refused.raw;
      EXPECT_EQ(refused.header("WWW-Authenticate"), "Bearer realm=\"quiver\"");
      if (path.starts_with("/v1/") && path != "/v1/embeddings") {  // memista's shape
        EXPECT_TRUE(refused.body["error"].is_string()) << refused.raw;
      } else if (path.starts_with("/api/v2/")) {  // Chroma's shape; its heartbeat too
        EXPECT_EQ(refused.body["error"], "AuthError") << refused.raw;
        EXPECT_TRUE(refused.body["message"].is_string()) << refused.raw;
      } else {
        EXPECT_EQ(refused.body["error"]["code"], "unauthorized") << refused.raw;
      }
    }
    EXPECT_NE(Send(server, method, path, right).status, 401);
    EXPECT_NE(Send(server, method, path, lower).status, 401);
  }
  // Unknown routes do not reveal themselves without the key.
  EXPECT_EQ(Send(server, "GET", "/nowhere", none).status, 401);
  EXPECT_EQ(Send(server, "GET", "/nowhere", right).status, 404);
  // Nothing was created by the refused requests.
  server.UseApiKey(kKey);
  EXPECT_TRUE(server.CollectionNames().empty());
}

TEST(AuthTest, WithoutKeyEveryRouteIsOpen) {
  TestServer server;
  for (const auto& [method, path] : AllRoutesWithConcretePaths(server)) {
    SCOPED_TRACE(method + " " + path);
    EXPECT_NE(Send(server, method, path, {}).status, 401);
  }
}

TEST(AuthTest, ConstantTimeEqualsAndBearerParsing) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abd", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("ab", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abcd", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("", "abc"));
  EXPECT_TRUE(IsAuthorized("Bearer abc", "abc"));
  EXPECT_TRUE(IsAuthorized("BEARER  abc ", "abc"));
  EXPECT_FALSE(IsAuthorized("Bearer", "abc"));
  EXPECT_FALSE(IsAuthorized("Token abc", "abc"));
  EXPECT_FALSE(IsAuthorized("", "abc"));
}

}  // namespace
}  // namespace quiver::server::testing
