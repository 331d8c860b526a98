// Copyright (c) Quiver authors.
//
// The server's parts on their own: JSON body parsing, the status mapping,
// error shapes, metrics rendering; and the speed of parsing a large insert.

#include <chrono>
#include <random>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "server/http_errors.h"
#include "server/json_body.h"
#include "server/metrics.h"
#include "server_harness.h"

namespace quiver::server::testing {
namespace {

Status ParseEmbedding(const std::string& text, std::size_t dimensions) {
  Result<std::unique_ptr<JsonBody>> body = JsonBody::Parse(text);
  if (!body.ok()) return body.status();
  Result<JsonObject> root = (*body)->RootObject();
  if (!root.ok()) return root.status();
  Result<JsonValue> embedding = root->Required("embedding");
  if (!embedding.ok()) return embedding.status();
  std::vector<float> out;
  return embedding->AppendFloats(dimensions, &out);
}

TEST(JsonBodyTest, ErrorsNameTheField) {
  EXPECT_TRUE(ParseEmbedding(R"({"embedding": [1, 2.5, -3e2]})", 3).ok());
  EXPECT_EQ(ParseEmbedding(R"({"embedding": [1, 2]})", 3).message(),
            "embedding: has 2 values, expected 3 (the dimensions)");
  EXPECT_EQ(ParseEmbedding(R"({"embedding": [1, "x", 3]})", 3).message(),
            "embedding[1]: expected a number, got a string");
  EXPECT_EQ(ParseEmbedding(R"({"embedding": [1, 2, 1e300]})", 3).message(),
            "embedding[2]: 1e+300 is outside the float32 range");
  EXPECT_EQ(ParseEmbedding(R"({})", 3).message(), "missing field 'embedding'");
  EXPECT_EQ(ParseEmbedding(R"({"embedding": null})", 3).message(), "missing field 'embedding'");
  EXPECT_EQ(ParseEmbedding(R"({"embedding": {}})", 3).message(),
            "embedding: expected an array of numbers, got an object");
  for (const char* malformed :
       {"{", R"({"embedding": [1e999]})", R"({"embedding": [NaN]})", "[1,]", "\"\xff\"", ""}) {
    Status status = ParseEmbedding(malformed, 0);
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << malformed;
    EXPECT_TRUE(status.message().starts_with("request body is not valid JSON")) << malformed;
  }
}

TEST(JsonBodyTest, UintRangeAndUnknownFields) {
  Result<std::unique_ptr<JsonBody>> body =
      JsonBody::Parse(R"({"a": 5, "b": -1, "c": 2.5, "d": 1})");
  ASSERT_TRUE(body.ok());
  JsonObject root = *(*body)->RootObject();
  EXPECT_EQ(*root.Required("a")->AsUint(1, 10), 5u);
  EXPECT_EQ(root.Required("a")->AsUint(6, 10).status().message(),
            "a: must be between 6 and 10, got 5");
  EXPECT_FALSE(root.Required("b")->AsUint(0, 10).ok());
  EXPECT_EQ(root.Required("c")->AsUint(0, 10).status().message(),
            "c: expected an integer, got 2.5");
  EXPECT_TRUE(root.OnlyFields({"a", "b", "c", "d"}).ok());
  EXPECT_EQ(root.OnlyFields({"a", "b", "c"}).message(),
            "unknown field 'd'; expected one of: a, b, c");
}

TEST(HttpErrorsTest, StatusToHttpCoversEveryCode) {
  EXPECT_EQ(StatusToHttp(StatusCode::kOk), 200);
  EXPECT_EQ(StatusToHttp(StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(StatusToHttp(StatusCode::kNotFound), 404);
  EXPECT_EQ(StatusToHttp(StatusCode::kAlreadyExists), 409);
  EXPECT_EQ(StatusToHttp(StatusCode::kFailedPrecondition), 409);
  EXPECT_EQ(StatusToHttp(StatusCode::kNotSupported), 501);
  EXPECT_EQ(StatusToHttp(StatusCode::kBusy), 503);
  EXPECT_EQ(StatusToHttp(StatusCode::kCorruption), 500);
  EXPECT_EQ(StatusToHttp(StatusCode::kIOError), 500);
  EXPECT_EQ(StatusToHttp(StatusCode::kInternal), 500);
}

TEST(HttpErrorsTest, TwoBodyShapes) {
  const ApiError error = ApiError::FromStatus(Status::NotFound("collection 'x' not found"));
  EXPECT_EQ(
      Json::parse(ErrorBody(ErrorStyle::kNative, error)),
      Json::parse(R"({"error": {"code": "not_found", "message": "collection 'x' not found"}})"));
  EXPECT_EQ(Json::parse(ErrorBody(ErrorStyle::kMemista, error)),
            Json::parse(R"({"error": "collection 'x' not found"})"));
  EXPECT_EQ(ErrorStyleForPath("/v1/insert"), ErrorStyle::kMemista);
  EXPECT_EQ(ErrorStyleForPath("/v2/collections"), ErrorStyle::kNative);
}

TEST(MetricsTest, PrometheusTextFormat) {
  Metrics metrics;
  metrics.ObserveRequest("GET", "/healthz", 200, 0.0007);
  metrics.ObserveRequest("GET", "/healthz", 200, 3.0);
  const std::string text = metrics.Render(nullptr);
  EXPECT_NE(
      text.find(R"(quiver_http_requests_total{method="GET",route="/healthz",status="200"} 2)"),
      std::string::npos)
      << text;
  EXPECT_NE(
      text.find(
          R"(quiver_http_request_duration_seconds_bucket{method="GET",route="/healthz",le="0.001"} 1)"),
      std::string::npos)
      << text;
  EXPECT_NE(
      text.find(
          R"(quiver_http_request_duration_seconds_bucket{method="GET",route="/healthz",le="5"} 2)"),
      std::string::npos)
      << text;
  EXPECT_NE(
      text.find(R"(quiver_http_request_duration_seconds_count{method="GET",route="/healthz"} 2)"),
      std::string::npos)
      << text;
  EXPECT_EQ(EscapeLabelValue("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

// An insert of 1,000 x 768 floats must spend its time in the store, not in JSON.
TEST(SpeedTest, ParsingALargeInsertIsASmallPartOfIt) {
  constexpr int kChunks = 1000, kDimensions = 768;
  std::mt19937 rng(7);
  std::normal_distribution<float> normal;
  std::string body = R"({"database_id": "speed", "chunks": [)";
  for (int i = 0; i < kChunks; ++i) {
    body += i ? ",{\"embedding\": [" : "{\"embedding\": [";
    for (int d = 0; d < kDimensions; ++d) {
      if (d > 0) body += ',';
      body += fmt::format("{}", normal(rng));
    }
    body += fmt::format(R"(], "text": "chunk {}", "metadata": "{{\"i\": {}}}"}})", i, i);
  }
  body += "]}";

  const auto parse_start = std::chrono::steady_clock::now();
  Result<std::unique_ptr<JsonBody>> parsed = JsonBody::Parse(body);
  ASSERT_TRUE(parsed.ok());
  std::vector<float> all;
  all.reserve(kChunks * kDimensions);
  Result<JsonObject> root = (*parsed)->RootObject();
  Result<JsonArray> chunks = root->Required("chunks")->AsArray();
  ASSERT_TRUE(chunks
                  ->ForEach([&](std::size_t, const JsonValue& chunk) {
                    return chunk.AsObject()->Required("embedding")->AppendFloats(kDimensions, &all);
                  })
                  .ok());
  const double parse_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - parse_start)
          .count();

  TestServer server;
  const auto insert_start = std::chrono::steady_clock::now();
  Response response = server.Post("/v1/insert", body);
  const double insert_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - insert_start)
          .count();
  ASSERT_EQ(response.status, 200) << response.raw.substr(0, 300);
  EXPECT_EQ(response.body["inserted_ids"].size(), static_cast<std::size_t>(kChunks));
  std::printf("[ speed    ] %.1f MB body: JSON parse %.1f ms, whole insert over HTTP %.1f ms\n",
              body.size() / 1e6, parse_ms, insert_ms);
  EXPECT_LT(parse_ms, insert_ms / 2);
}

}  // namespace
}  // namespace quiver::server::testing
