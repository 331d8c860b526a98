// Copyright (c) Quiver authors.
//
// POST /v1/embeddings (OpenAI's embeddings API over the server's local model),
// Quiver's own OpenAI-compatible client talking to Quiver's server, the
// client's behaviour against a misbehaving peer, and text records over /v2.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <thread>

#include "common/test_util.h"
#include "quiver/embedders.h"
#include "server_harness.h"

namespace quiver::server::testing {
namespace {

using ::testing::HasSubstr;

std::shared_ptr<Embedder> LocalModel() {
  static std::shared_ptr<Embedder> model = [] {
    auto loaded = embed::ResolveEmbedder("use-lite");
    EXPECT_TRUE(loaded.ok()) << loaded.status().ToString();
    return loaded.ok() ? *loaded : nullptr;
  }();
  return model;
}

std::vector<float> DecodeBase64Floats(const std::string& text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
  };
  std::vector<unsigned char> bytes;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : text) {
    const int v = value(c);
    if (v < 0) break;
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes.push_back(static_cast<unsigned char>((buffer >> bits) & 0xFF));
    }
  }
  std::vector<float> floats(bytes.size() / sizeof(float));
  std::memcpy(floats.data(), bytes.data(), floats.size() * sizeof(float));
  return floats;
}

TEST(Embeddings, AnswersOpenAIsShapeWithTheLocalModel) {
  TestServer server;
  auto model = LocalModel();
  ASSERT_NE(model, nullptr);
  Response r = server.Post(
      "/v1/embeddings",
      Json{{"model", "use-lite"}, {"input", {"How old are you?", "What is your age?"}}});
  ASSERT_EQ(r.status, 200) << r.raw;
  EXPECT_EQ(r.body["object"], "list");
  EXPECT_EQ(r.body["model"], "use-lite");
  ASSERT_EQ(r.body["data"].size(), 2u);
  auto expected = model->Embed({"How old are you?", "What is your age?"}, EmbedPurpose::kDocument);
  ASSERT_TRUE(expected.ok());
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(r.body["data"][i]["index"], i);
    const auto got = r.body["data"][i]["embedding"].get<std::vector<float>>();
    ASSERT_EQ(got.size(), 512u);
    for (std::size_t j = 0; j < 512; ++j) EXPECT_NEAR(got[j], (*expected)[i * 512 + j], 1e-6);
  }
  // A single string and base64 (what OpenAI's Python client asks for).
  Response b = server.Post(
      "/v1/embeddings",
      Json{{"model", "use-lite"}, {"input", "How old are you?"}, {"encoding_format", "base64"}});
  ASSERT_EQ(b.status, 200) << b.raw;
  const auto decoded = DecodeBase64Floats(b.body["data"][0]["embedding"].get<std::string>());
  ASSERT_EQ(decoded.size(), 512u);
  for (std::size_t j = 0; j < 512; ++j) EXPECT_NEAR(decoded[j], (*expected)[j], 1e-6);
}

TEST(Embeddings, ClientMistakesAre400sNamingTheField) {
  TestServer server;
  struct Case {
    Json body;
    std::string says;
  };
  const std::vector<Case> cases = {
      {Json{{"model", "no-such-model"}, {"input", "x"}}, "unknown embedder 'no-such-model'"},
      {Json{{"model", "openai:gpt"}, {"input", "x"}}, "not a local model"},
      {Json{{"model", "use-lite"}, {"input", Json::array({1, 2, 3})}}, "token-array"},
      {Json{{"model", "use-lite"}, {"input", Json::array()}}, "input"},
      {Json{{"model", "use-lite"}, {"input", {"fine", ""}}}, "input[1]: is empty"},
      {Json{{"model", "use-lite"}, {"input", "x"}, {"dimensions", 256}}, "dimensions: 256"},
      {Json{{"model", "use-lite"}, {"input", "x"}, {"encoding_format", "hex"}}, "encoding_format"},
      {Json{{"input", "x"}}, "model"},
  };
  for (const Case& c : cases) {
    Response r = server.Post("/v1/embeddings", c.body);
    EXPECT_EQ(r.status, 400) << c.body.dump() << " -> " << r.raw;
    EXPECT_THAT(r.body["error"]["message"].get<std::string>(), HasSubstr(c.says)) << r.raw;
  }
}

TEST(Embeddings, QuiversClientTalksToQuiversServer) {
  TestServer server;
  embed::OpenAIOptions options;
  options.base_url = "http://127.0.0.1:" + std::to_string(server.port()) + "/v1";
  options.model = "use-lite";
  options.batch = 3;  // several requests for one call
  auto client = embed::ConnectOpenAI(options);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  EXPECT_EQ((*client)->info().dimensions, 512u);  // learned from the probe
  EXPECT_EQ((*client)->info().id, "openai:use-lite");
  const std::vector<std::string> texts = {"one", "two words", "three more words", "four"};
  // The caller (a collection) splits batches by info().max_batch; so does this test.
  std::vector<float> remote;
  for (std::size_t begin = 0; begin < texts.size(); begin += 3) {
    std::vector<std::string> chunk(texts.begin() + begin,
                                   texts.begin() + std::min(texts.size(), begin + 3));
    auto part = (*client)->Embed(chunk, EmbedPurpose::kDocument);
    ASSERT_TRUE(part.ok()) << part.status().ToString();
    remote.insert(remote.end(), part->begin(), part->end());
  }
  auto local = LocalModel()->Embed(texts, EmbedPurpose::kDocument);
  ASSERT_TRUE(local.ok());
  ASSERT_EQ(remote.size(), local->size());
  for (std::size_t j = 0; j < remote.size(); ++j) EXPECT_NEAR(remote[j], (*local)[j], 1e-6);

  // The same through a store: a collection bound to the remote model.
  quiver::testing::TempDir dir;
  StoreOptions store_options;
  store_options.logger = [](LogLevel, std::string_view) {};
  store_options.embedder_resolver = [&](const std::string& id, const std::string&) {
    EXPECT_EQ(id, "openai:use-lite");
    return client;
  };
  auto store = Store::Open(dir.path(), store_options);
  ASSERT_TRUE(store.ok());
  auto docs = (*store)->CreateCollection("docs", ConfigForEmbedder((*client)->info()));
  ASSERT_TRUE(docs.ok());
  std::vector<Record> records(texts.size());
  for (std::size_t i = 0; i < texts.size(); ++i) {
    records[i].key = i + 1;
    records[i].text = texts[i];
  }
  ASSERT_TRUE((*docs)->Upsert(records).ok());
  TextSearchOptions search;
  search.search.k = 1;
  auto found = (*docs)->SearchText({"three more words"}, search);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  EXPECT_EQ((*found)[0][0].key, 3u);
}

/// A peer that answers every POST with `reply` (status, body), counting requests.
class FakeEmbeddingServer {
 public:
  FakeEmbeddingServer(int status, std::string body) {
    server_.Post("/v1/embeddings",
                 [this, status, body](const httplib::Request&, httplib::Response& response) {
                   ++requests;
                   response.status = status;
                   response.set_content(body, "application/json");
                 });
    server_.set_keep_alive_max_count(1);  // close after each reply: stop() never waits
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeEmbeddingServer() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::atomic<int> requests{0};

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
};

Status EmbedOnceWith(const std::string& url, std::uint32_t dims = 2) {
  embed::OpenAIOptions options;
  options.base_url = url;
  options.model = "m";
  options.dimensions = dims;
  options.max_retries = 2;
  options.retry_backoff_ms = 1;
  options.timeout_ms = 2000;
  auto client = embed::ConnectOpenAI(options);
  if (!client.ok()) return client.status();
  return (*client)->Embed({"a", "b"}, EmbedPurpose::kDocument).status();
}

TEST(OpenAIClient, NamesTheServerAndItsReplyWhenItMisbehaves) {
  {
    FakeEmbeddingServer wrong_count(200, R"({"data": [{"index": 0, "embedding": [1, 2]}]})");
    Status s = EmbedOnceWith(wrong_count.url());
    EXPECT_EQ(s.code(), StatusCode::kUnavailable);
    EXPECT_THAT(s.message(), HasSubstr("returned 1 embeddings for 2 texts"));
    EXPECT_THAT(s.message(), HasSubstr(wrong_count.url()));
  }
  {
    FakeEmbeddingServer wrong_dims(
        200,
        R"({"data": [{"index": 0, "embedding": [1, 2, 3]}, {"index": 1, "embedding": [1, 2, 3]}]})");
    EXPECT_THAT(EmbedOnceWith(wrong_dims.url()).message(), HasSubstr("3-dimensional"));
  }
  {
    // JSON has no NaN; a server that writes one sends invalid JSON, and 1e999 overflows.
    FakeEmbeddingServer nan(200, R"({"data": [{"embedding": [1, NaN]}, {"embedding": [1, 2]}]})");
    EXPECT_EQ(EmbedOnceWith(nan.url()).code(), StatusCode::kUnavailable);
    FakeEmbeddingServer huge(200,
                             R"({"data": [{"embedding": [1, 1e999]}, {"embedding": [1, 2]}]})");
    EXPECT_EQ(EmbedOnceWith(huge.url()).code(), StatusCode::kUnavailable);
  }
  {
    // 5xx is retried (max_retries = 2: three requests), then reported with the server's message.
    FakeEmbeddingServer overloaded(503, R"({"error": {"message": "model is loading"}})");
    Status s = EmbedOnceWith(overloaded.url());
    EXPECT_EQ(s.code(), StatusCode::kUnavailable);
    EXPECT_THAT(s.message(), HasSubstr("model is loading"));
    EXPECT_THAT(s.message(), HasSubstr("after 3 attempts"));
    EXPECT_EQ(overloaded.requests.load(), 3);
  }
  {
    // Other 4xx are the caller's problem: not retried.
    FakeEmbeddingServer bad_key(401, R"({"error": {"message": "Incorrect API key"}})");
    Status s = EmbedOnceWith(bad_key.url());
    EXPECT_THAT(s.message(), HasSubstr("HTTP 401"));
    EXPECT_THAT(s.message(), HasSubstr("Incorrect API key"));
    EXPECT_EQ(bad_key.requests.load(), 1);
  }
  // Nobody listening: a clear "could not be reached".
  int closed_port = 0;
  {
    // A port that was free a moment ago: bound, never listened on, closed.
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
    closed_port = ntohs(address.sin_port);
    ::close(fd);
  }
  Status down = EmbedOnceWith("http://127.0.0.1:" + std::to_string(closed_port));
  EXPECT_EQ(down.code(), StatusCode::kUnavailable);
  EXPECT_THAT(down.message(), HasSubstr("could not be reached"));
  EXPECT_EQ(EmbedOnceWith("ftp://example").code(), StatusCode::kInvalidArgument);
}

TEST(TextRecordsOverHttp, UpsertTextOnlyRecordsIntoACollectionWithAModel) {
  TestServer server;
  auto model = LocalModel();
  ASSERT_NE(model, nullptr);
  Response created =
      server.Post("/v2/collections", Json{{"name", "docs"},
                                          {"config",
                                           {{"dimensions", 512},
                                            {"metric", "cos"},
                                            {"model_id", model->info().id},
                                            {"model_version", model->info().version}}}});
  ASSERT_EQ(created.status, 201) << created.raw;
  Response upserted =
      server.Post("/v2/collections/docs/records",
                  Json{{"records",
                        {{{"id", "cat"}, {"text", "The cat sleeps on the sofa."}},
                         {{"id", "bank"}, {"text", "The bank raised interest rates."}}}}});
  ASSERT_EQ(upserted.status, 200) << upserted.raw;
  Response got = server.Post("/v2/collections/docs/records/get",
                             Json{{"ids", {"cat"}}, {"include", {"embedding"}}});
  ASSERT_EQ(got.status, 200) << got.raw;
  ASSERT_EQ(got.body["records"].size(), 1u);
  EXPECT_EQ(got.body["records"][0]["embedding"].size(), 512u);

  // A record with neither text nor embedding names the field; nothing is written.
  Response bad =
      server.Post("/v2/collections/docs/records", Json{{"records", {{{"id", "x"}, {"text", ""}}}}});
  EXPECT_EQ(bad.status, 400) << bad.raw;
  EXPECT_THAT(bad.raw, HasSubstr("embedding"));
}

}  // namespace
}  // namespace quiver::server::testing
