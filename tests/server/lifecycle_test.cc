// Copyright (c) Quiver authors.
//
// Graceful shutdown and restart: every acknowledged write survives. And, when
// the `quiver` binary is built, `quiver serve` as a child process exits 0 on SIGTERM.

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "server_harness.h"

namespace quiver::server::testing {
namespace {

using Clock = std::chrono::steady_clock;

TEST(LifecycleTest, RestartKeepsRecordsAndMemistaIdsContinue) {
  TestServer server;
  const Json chunks = {{{"embedding", {1, 0}}, {"text", "a"}, {"metadata", ""}},
                       {{"embedding", {0, 1}}, {"text", "b"}, {"metadata", ""}}};
  Response inserted = server.Post("/v1/insert", Json{{"database_id", "mem"}, {"chunks", chunks}});
  ASSERT_EQ(inserted.status, 200) << inserted.raw;
  const std::uint64_t last = inserted.body["inserted_ids"][1];
  server.CreateCollection("v2", 2);
  ASSERT_EQ(server
                .Post("/v2/collections/v2/records",
                      Json{{"records", {{{"id", "x"}, {"embedding", Vector({1, 1})}}}}})
                .status,
            200);
  server.Restart();
  EXPECT_EQ(server.Count("mem"), 2);
  EXPECT_EQ(server.Count("v2"), 1);
  Response more =
      server.Post("/v1/insert", Json{{"database_id", "mem"}, {"chunks", Json::array({chunks[0]})}});
  ASSERT_EQ(more.status, 200) << more.raw;
  EXPECT_EQ(more.body["inserted_ids"], Json::array({last + 1}));
  Response found = server.Post("/v2/collections/v2/records/get", Json{{"ids", {"x"}}});
  EXPECT_EQ(found.body["records"].size(), 1u) << found.raw;
}

// `serve --read-only` beside a running writer: it opens without the write
// lock, serves the checkpointed data (mapped), and refuses every write with
// 501 not_supported, writing nothing.
TEST(LifecycleTest, ReadOnlyServerRunsBesideAWriterAndRefusesWrites) {
  TestServer writer;
  writer.CreateCollection("docs", 2);
  ASSERT_EQ(writer
                .Post("/v2/collections/docs/records",
                      Json{{"records",
                            {{{"id", "a"}, {"embedding", Vector({1, 0})}, {"text", "first"}},
                             {{"id", 2}, {"embedding", Vector({0, 1})}}}}})
                .status,
            200);
  ASSERT_EQ(writer.Post("/v2/collections/docs/checkpoint", std::string("")).status, 200);

  TestServer reader([&](ServerOptions& options) {
    options.data_dir = writer.data_dir();
    options.store.read_only = true;
  });
  Response found = reader.Post("/v2/collections/docs/query",
                               Json{{"vector", Vector({1, 0})}, {"k", 1}, {"include", {"text"}}});
  ASSERT_EQ(found.status, 200) << found.raw;
  EXPECT_EQ(found.body["results"][0][0]["id"], "a");
  EXPECT_EQ(found.body["results"][0][0]["text"], "first");
  Response stats = reader.Get("/v2/collections/docs/stats");
  ASSERT_EQ(stats.status, 200) << stats.raw;
  EXPECT_EQ(stats.body["index_mapped"], true) << stats.raw;

  Response upsert = reader.Post("/v2/collections/docs/records",
                                Json{{"records", {{{"id", 3}, {"embedding", Vector({1, 1})}}}}});
  EXPECT_EQ(upsert.status, 501) << upsert.raw;
  EXPECT_EQ(upsert.body["error"]["code"], "not_supported") << upsert.raw;
  Response insert = reader.Post(
      "/v1/insert", Json{{"database_id", "docs"},
                         {"chunks", {{{"embedding", {1, 1}}, {"text", "x"}, {"metadata", ""}}}}});
  EXPECT_EQ(insert.status, 501) << insert.raw;
  EXPECT_EQ(writer.Count("docs"), 2) << "the refused writes wrote nothing";
}

TEST(LifecycleTest, GracefulStopKeepsEveryAcknowledgedWrite) {
  TestServer server;
  server.CreateCollection("g", 4);
  const int port = server.port();
  std::mutex mutex;
  std::vector<int> acknowledged;  // guarded by mutex
  std::atomic<bool> stop_sending{false};
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; i < 500 && !stop_sending; ++i) {
        const int id = w * 100000 + i;
        httplib::Client client("127.0.0.1", port);
        client.set_connection_timeout(2);
        client.set_read_timeout(10);
        const Json body = {{"records", {{{"id", id}, {"embedding", {id, 1, 2, 3}}}}}};
        httplib::Result result =
            client.Post("/v2/collections/g/records", body.dump(), "application/json");
        if (!result) {
          stop_sending = true;  // the server stopped listening
          break;
        }
        if (result->status == 200) {
          std::lock_guard<std::mutex> lock(mutex);
          acknowledged.push_back(id);
        }
      }
    });
  }
  // Let the writers run, then stop while requests are in flight.
  for (int i = 0; i < 200; ++i) {
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (acknowledged.size() >= 40) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  server.Stop();
  stop_sending = true;
  for (std::thread& writer : writers) writer.join();

  // Every acknowledged write is there after a restart (unacknowledged ones may be too).
  server.Start();
  ASSERT_FALSE(acknowledged.empty());
  EXPECT_GE(server.Count("g"), static_cast<long long>(acknowledged.size()));
  Json ids = Json::array();
  for (int id : acknowledged) ids.push_back(id);
  Response found = server.Post("/v2/collections/g/records/get", Json{{"ids", ids}});
  EXPECT_EQ(found.body["not_found"], Json::array()) << found.raw.substr(0, 500);
  EXPECT_EQ(found.body["records"].size(), acknowledged.size());
}

TEST(LifecycleTest, StopIsIdempotentAndReleasesThePort) {
  TestServer server;
  const int port = server.port();
  server.server().Stop().ok();
  EXPECT_TRUE(server.server().Stop().ok());
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(1);
  EXPECT_FALSE(client.Get("/healthz"));
}

// Reads the child's standard error until the "listening on" line; returns the port.
int WaitForListeningPort(int stderr_fd, std::string* log) {
  const std::regex listening("listening on http://127\\.0\\.0\\.1:([0-9]+)");
  const Clock::time_point deadline = Clock::now() + std::chrono::seconds(15);
  char buffer[1024];
  while (Clock::now() < deadline) {
    const ssize_t n = ::read(stderr_fd, buffer, sizeof(buffer));
    if (n > 0) {
      log->append(buffer, static_cast<std::size_t>(n));
      std::smatch match;
      if (std::regex_search(*log, match, listening)) return std::stoi(match[1]);
    } else if (n == 0) {
      return -1;  // the child exited
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  return -1;
}

TEST(LifecycleTest, QuiverServeExitsZeroOnSigterm) {
  const std::string binary = QUIVER_BINARY;
  if (binary.empty() || !std::filesystem::exists(binary)) {
    GTEST_SKIP() << "the quiver binary is not built";
  }
  quiver::testing::TempDir dir;
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::dup2(pipe_fds[1], STDERR_FILENO);
    ::execl(binary.c_str(), binary.c_str(), "serve", "--data", dir.path().c_str(), "--host",
            "127.0.0.1", "--port", "0", "--threads", "2", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  ::fcntl(pipe_fds[0], F_SETFL, O_NONBLOCK);
  std::string log;
  const int port = WaitForListeningPort(pipe_fds[0], &log);
  ASSERT_GT(port, 0) << log;

  httplib::Client client("127.0.0.1", port);
  client.set_read_timeout(10);
  bool ready = false;
  for (int i = 0; i < 100 && !ready; ++i) {
    httplib::Result result = client.Get("/readyz");
    ready = result && result->status == 200;
    if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(ready) << log;
  httplib::Result inserted = client.Post(
      "/v1/insert",
      R"({"database_id": "child", "chunks": [{"embedding": [1, 0], "text": "t", "metadata": ""}]})",
      "application/json");
  ASSERT_TRUE(inserted);
  ASSERT_EQ(inserted->status, 200) << inserted->body;

  ASSERT_EQ(::kill(child, SIGTERM), 0);
  int status = 0;
  pid_t waited = 0;
  for (int i = 0; i < 200 && waited == 0; ++i) {
    waited = ::waitpid(child, &status, WNOHANG);
    if (waited == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (waited == 0) {
    ::kill(child, SIGKILL);
    ::waitpid(child, &status, 0);
    FAIL() << "quiver serve did not exit within 10 s of SIGTERM";
  }
  char buffer[4096];
  for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof(buffer))) > 0;) log.append(buffer, n);
  ::close(pipe_fds[0]);
  ASSERT_TRUE(WIFEXITED(status)) << log;
  EXPECT_EQ(WEXITSTATUS(status), 0) << log;

  // The acknowledged record is in the store the child closed.
  Result<std::unique_ptr<Store>> store = Store::Open(dir.path(), quiver::testing::QuietOptions());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  Result<std::shared_ptr<Collection>> collection = (*store)->GetCollection("child");
  ASSERT_TRUE(collection.ok()) << collection.status().ToString();
  Result<std::uint64_t> count = (*collection)->Count();
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 1u);
}

}  // namespace
}  // namespace quiver::server::testing
