// Copyright (c) Quiver authors.
//
// Issue 16: a server that no client can stall. Each test is one of the
// issue's reproductions, against the real server on loopback, bounded to a
// few seconds: trickling clients (headers and bodies) do not hold workers,
// connections per address are capped, a search is bounded in work, time and
// response size and stops when its client leaves, record sizes are capped at
// write time, /metrics labels come from a fixed set, a 64 KiB request line
// gets 414, and `serve` fails before it says "listening".

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "server_harness.h"

namespace quiver::server::testing {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr int kDimensions = 32;

// A TCP connection to 127.0.0.1:port from the loopback address `source`
// (127.0.0.0/8 is all loopback on Linux), or -1.
int ConnectFrom(const std::string& source, int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  inet_pton(AF_INET, source.c_str(), &local.sin_addr);
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_port = htons(static_cast<std::uint16_t>(port));
  remote.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof(remote)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// True if the server closed `fd` within `timeout` (recv returns 0 or fails).
bool ClosedByPeer(int fd, milliseconds timeout) {
  pollfd descriptor{fd, POLLIN, 0};
  if (::poll(&descriptor, 1, static_cast<int>(timeout.count())) <= 0) return false;
  char byte;
  return ::recv(fd, &byte, 1, MSG_DONTWAIT) <= 0;
}

// Clients that each sent part of a request and then send one more byte every
// `interval` from a background thread, until destroyed.
class Tricklers {
 public:
  Tricklers(int port, int count, const std::string& opening, milliseconds interval,
            int addresses = 1) {
    for (int i = 0; i < count; ++i) {
      const std::string source = "127.0.0." + std::to_string(2 + i % addresses);
      const int fd = ConnectFrom(source, port);
      EXPECT_GE(fd, 0) << "connect from " << source;
      if (fd < 0) continue;
      EXPECT_EQ(::send(fd, opening.data(), opening.size(), MSG_NOSIGNAL),
                static_cast<ssize_t>(opening.size()));
      fds_.push_back(fd);
    }
    thread_ = std::thread([this, interval] {
      while (!stop_.load()) {
        for (const int fd : fds_) ::send(fd, "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
        std::this_thread::sleep_for(interval);
      }
    });
  }
  ~Tricklers() {
    stop_ = true;
    thread_.join();
    for (const int fd : fds_) ::close(fd);
  }
  std::size_t size() const { return fds_.size(); }

 private:
  std::vector<int> fds_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

Json RandomVector(std::mt19937& random) {
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  std::vector<float> vector(kDimensions);
  for (float& x : vector) x = value(random);
  return vector;
}

// Fills collection `name` with `count` random vectors (keys 1..count).
void Fill(const TestServer& server, const std::string& name, int count) {
  server.CreateCollection(name, kDimensions);
  std::mt19937 random(7);
  for (int begin = 0; begin < count; begin += 1000) {
    Json records = Json::array();
    for (int key = begin + 1; key <= std::min(count, begin + 1000); ++key) {
      records.push_back({{"id", key}, {"embedding", RandomVector(random)}});
    }
    ASSERT_EQ(
        server.Post("/v2/collections/" + name + "/records", Json{{"records", records}}).status,
        200);
  }
}

// A query body of `count` random vectors.
std::string QueryBody(int count, int expansion) {
  std::mt19937 random(11);
  Json vectors = Json::array();
  for (int i = 0; i < count; ++i) vectors.push_back(RandomVector(random));
  return Json{{"vectors", vectors}, {"k", 10}, {"expansion_search", expansion}}.dump();
}

// The value of one /metrics line ("name{labels}"), or -1 if absent.
double MetricValue(const TestServer& server, const std::string& series) {
  const std::string text = server.Get("/metrics").raw;
  const std::size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

// Latency of `requests` GET /v2/info on one keep-alive connection, `pause`
// apart, sorted, in ms.
std::vector<double> InfoLatencies(const TestServer& server, int requests,
                                  milliseconds pause = milliseconds(0)) {
  auto client = server.Client();
  client->set_keep_alive(true);
  std::vector<double> latencies;
  for (int i = 0; i < requests; ++i) {
    const auto start = Clock::now();
    httplib::Result result = client->Get("/v2/info");
    latencies.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    EXPECT_TRUE(result && result->status == 200);
    std::this_thread::sleep_for(pause);
  }
  std::sort(latencies.begin(), latencies.end());
  return latencies;
}

double Percentile(const std::vector<double>& sorted, double fraction) {
  return sorted[std::min(sorted.size() - 1, static_cast<std::size_t>(fraction * sorted.size()))];
}

TEST(HardeningTest, TricklingHeadersAndBodiesDoNotHoldWorkers) {
  // The issue's reproduction: --threads 2; 8 then 40 connections trickling
  // headers, 4 trickling a body. Before: /v2/info waited 37 s.
  TestServer server([](ServerOptions& options) {
    options.threads = 2;
    options.header_timeout_s = 10;
    options.read_timeout_s = 10;
  });
  server.CreateCollection("c", 2);
  ASSERT_EQ(server
                .Post("/v2/collections/c/records",
                      Json{{"records", {{{"id", 1}, {"embedding", Vector({1, 0})}}}}})
                .status,
            200);
  Tricklers headers(server.port(), 40, "GET /v2/info HTTP/1.1\r\nX-Slow: ", milliseconds(100));
  Tricklers bodies(server.port(), 4,
                   "POST /v2/collections/c/query HTTP/1.1\r\nHost: x\r\nContent-Type: "
                   "application/json\r\nContent-Length: 100000\r\n\r\n{\"vector\": [",
                   milliseconds(100));
  std::this_thread::sleep_for(milliseconds(300));
  const auto start = Clock::now();
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(server.Get("/v2/info").status, 200);
    Response query = server.Post("/v2/collections/c/query", Json{{"vector", Vector({1, 0})}});
    ASSERT_EQ(query.status, 200) << query.raw;
    EXPECT_EQ(query.body["results"][0][0]["key"], 1);
  }
  // 40 requests; each used to wait for a header timeout.
  EXPECT_LT(std::chrono::duration_cast<milliseconds>(Clock::now() - start).count(), 3000);
}

TEST(HardeningTest, FiveHundredTricklersKeepANormalClientsP99) {
  TestServer server([](ServerOptions& options) {
    options.threads = 2;
    options.header_timeout_s = 30;
  });
  // 300 requests 5 ms apart: the client runs through 2 rounds of trickling.
  const std::vector<double> idle = InfoLatencies(server, 300, milliseconds(5));
  // One byte a second on each, as in the issue; 5 source addresses x 100,
  // under the default per-address cap.
  Tricklers tricklers(server.port(), 500, "GET /v2/info HTTP/1.1\r\nX-Slow: ", milliseconds(1000),
                      /*addresses=*/5);
  ASSERT_EQ(tricklers.size(), 500u);
  std::this_thread::sleep_for(milliseconds(200));
  const std::vector<double> loaded = InfoLatencies(server, 300, milliseconds(5));
  const double idle_p99 = Percentile(idle, 0.99);
  const double loaded_p99 = Percentile(loaded, 0.99);
  std::printf("p50/p99 ms: idle %.3f/%.3f, beside 500 tricklers %.3f/%.3f\n", Percentile(idle, 0.5),
              idle_p99, Percentile(loaded, 0.5), loaded_p99);
  // The issue's target is 2x on a quiet machine (bench/http_bench_hardening.py
  // measures it). Here, beside other tests on shared cores, a burst of 500
  // trickled bytes can take the two workers some ms; allow 100 ms on top. A
  // held worker cost the old server a header timeout (30 s here).
  EXPECT_LE(loaded_p99, 2 * idle_p99 + 100.0);
  EXPECT_GE(MetricValue(server, "quiver_http_open_connections"), 500);
}

TEST(HardeningTest, ConnectionsPerAddressAreCapped) {
  TestServer server([](ServerOptions& options) { options.max_connections_per_address = 4; });
  std::vector<int> held;
  for (int i = 0; i < 4; ++i) held.push_back(ConnectFrom("127.0.0.9", server.port()));
  for (const int fd : held) ASSERT_GE(fd, 0);
  std::this_thread::sleep_for(milliseconds(100));
  const int fifth = ConnectFrom("127.0.0.9", server.port());
  ASSERT_GE(fifth, 0);  // the kernel accepts it; the server closes it at once
  EXPECT_TRUE(ClosedByPeer(fifth, milliseconds(2000)));
  ::close(fifth);
  // Other addresses are not affected, and a freed slot is reusable.
  EXPECT_EQ(server.Get("/healthz").status, 200);
  ::close(held.back());
  held.pop_back();
  std::this_thread::sleep_for(milliseconds(100));
  const int again = ConnectFrom("127.0.0.9", server.port());
  const std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  ASSERT_EQ(::send(again, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  char buffer[64] = {};
  pollfd descriptor{again, POLLIN, 0};
  ASSERT_GT(::poll(&descriptor, 1, 2000), 0);
  ASSERT_GT(::recv(again, buffer, sizeof(buffer) - 1, 0), 0);
  EXPECT_EQ(std::string(buffer).substr(0, 15), "HTTP/1.1 200 OK");
  ::close(again);
  for (const int fd : held) ::close(fd);
  EXPECT_GE(
      MetricValue(server, R"(quiver_http_transport_events_total{event="refused_per_address"})"), 1);
}

TEST(HardeningTest, DescriptorsAbove1024AreServed) {
  // httplib 0.11 answers 500 to sockets >= FD_SETSIZE unless the stream hides them.
  TestServer server([](ServerOptions& options) { options.max_connections_per_address = 2000; });
  std::vector<std::unique_ptr<RawConnection>> idle;
  for (int i = 0; i < 1100; ++i) idle.push_back(std::make_unique<RawConnection>(server.port()));
  std::this_thread::sleep_for(milliseconds(300));
  EXPECT_EQ(server.Get("/v2/info").status, 200);
}

TEST(HardeningTest, RequestLineOver64KiBIs414) {
  TestServer server;
  RawConnection connection(server.port());
  const std::string request = "GET /" + std::string(70 << 10, 'a') + " HTTP/1.1\r\n\r\n";
  connection.Send(request);
  const std::string response = connection.ReadUntilClosed(milliseconds(3000));
  EXPECT_EQ(response.substr(0, response.find("\r\n")), "HTTP/1.1 414 URI Too Long") << response;
  EXPECT_NE(response.find("uri_too_long"), std::string::npos);
  EXPECT_EQ(server.Get("/healthz").status, 200);
}

TEST(HardeningTest, MetricsLabelsComeFromAFixedSet) {
  TestServer server;
  auto send_random_methods = [&](int count) {
    std::mt19937 random(3);
    std::uniform_int_distribution<int> letter('A', 'Z');
    for (int i = 0; i < count; ++i) {
      std::string method = "Q";
      for (int j = 0; j < 12; ++j) method += static_cast<char>(letter(random));
      RawConnection connection(server.port());
      connection.Send(method + " /v2/info HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      connection.ReadUntilClosed(milliseconds(2000));
    }
  };
  send_random_methods(20);
  server.Get("/metrics");  // its own series exist from now on
  const std::size_t before = server.Get("/metrics").raw.size();
  send_random_methods(500);
  const std::string after = server.Get("/metrics").raw;
  EXPECT_EQ(after.find("method=\"Q"), std::string::npos);
  EXPECT_NE(after.find("method=\"other\""), std::string::npos);
  // Only counter values change (a few digits), not the set of series.
  EXPECT_LT(after.size(), before + 256);
}

TEST(HardeningTest, SearchWorkOverTheBudgetIsRefusedBeforeAnyWork) {
  TestServer server([](ServerOptions& options) { options.max_search_work = 10'000; });
  Fill(server, "c", 100);
  Response refused = server.Post("/v2/collections/c/query", QueryBody(20, 1000));
  EXPECT_EQ(refused.status, 400) << refused.raw;
  EXPECT_NE(refused.raw.find("--max-search-work"), std::string::npos) << refused.raw;
  Response allowed = server.Post("/v2/collections/c/query", QueryBody(20, 100));
  EXPECT_EQ(allowed.status, 200) << allowed.raw;
  EXPECT_EQ(allowed.body["results"].size(), 20u);
  EXPECT_EQ(MetricValue(server, R"(quiver_http_budget_exceeded_total{limit="search_work"})"), 1);
}

TEST(HardeningTest, ResponsesOverTheLimitAreRefusedNotBuffered) {
  // The issue's reproduction, scaled down: one large text record asked for
  // by 20 queries. Before: a 1.2 GB response.
  TestServer server([](ServerOptions& options) {
    options.max_response_bytes = 1u << 20;
    options.max_text_bytes = 4u << 20;
  });
  server.CreateCollection("c", 2);
  const std::string text(600 << 10, 't');
  ASSERT_EQ(server
                .Post("/v2/collections/c/records",
                      Json{{"records",
                            {{{"id", 1}, {"embedding", Vector({1, 0})}, {"text", text}},
                             {{"id", 2}, {"embedding", Vector({0, 1})}, {"text", text}}}}})
                .status,
            200);
  Json vectors = Json::array();
  for (int i = 0; i < 20; ++i) vectors.push_back(Vector({1, 0}));
  Response query = server.Post("/v2/collections/c/query", Json{{"vectors", vectors}, {"k", 1}});
  EXPECT_EQ(query.status, 400) << query.raw.substr(0, 300);
  EXPECT_NE(query.raw.find("--max-response-bytes"), std::string::npos);
  // One query fits; text left out, all 20 fit.
  EXPECT_EQ(
      server.Post("/v2/collections/c/query", Json{{"vector", Vector({1, 0})}, {"k", 1}}).status,
      200);
  EXPECT_EQ(server
                .Post("/v2/collections/c/query",
                      Json{{"vectors", vectors}, {"k", 1}, {"include", {"distance"}}})
                .status,
            200);
  // Any other route: the router refuses the built response.
  Response get = server.Post("/v2/collections/c/records/get", Json{{"ids", {1, 2}}});
  EXPECT_EQ(get.status, 400) << get.raw.substr(0, 300);
  EXPECT_EQ(MetricValue(server, R"(quiver_http_budget_exceeded_total{limit="response_bytes"})"), 2);
}

TEST(HardeningTest, OversizedTextOrMetadataWritesNothing) {
  TestServer server([](ServerOptions& options) {
    options.max_text_bytes = 100;
    options.max_metadata_bytes = 50;
  });
  server.CreateCollection("c", 2);
  Response text = server.Post(
      "/v2/collections/c/records",
      Json{{"records",
            {{{"id", 1}, {"embedding", Vector({1, 0})}, {"text", std::string(100, 'a')}},
             {{"id", 2}, {"embedding", Vector({1, 0})}, {"text", std::string(101, 'a')}}}}});
  EXPECT_EQ(text.status, 400);
  EXPECT_NE(text.raw.find("records[1].text"), std::string::npos) << text.raw;
  Response metadata = server.Post("/v2/collections/c/records",
                                  Json{{"records",
                                        {{{"id", 1},
                                          {"embedding", Vector({1, 0})},
                                          {"metadata", {{"k", std::string(60, 'm')}}}}}}});
  EXPECT_EQ(metadata.status, 400);
  EXPECT_NE(metadata.raw.find("--max-metadata-bytes"), std::string::npos) << metadata.raw;
  EXPECT_EQ(server.Count("c"), 0);
  // memista's insert: refused before it creates the database.
  Response insert = server.Post(
      "/v1/insert",
      Json{{"database_id", "m"},
           {"chunks", {{{"embedding", Vector({1, 0})}, {"text", std::string(200, 'a')}}}}});
  EXPECT_EQ(insert.status, 400) << insert.raw;
  EXPECT_EQ(server.Count("m"), -1);
}

// A server and a collection on which 8,000 queries at ef=10,000 take
// seconds of CPU, with a search budget that allows them.
std::unique_ptr<TestServer> HeavySearchServer(int request_timeout_s) {
  auto server = std::make_unique<TestServer>([request_timeout_s](ServerOptions& options) {
    options.max_search_work = std::size_t{1} << 40;
    options.request_timeout_s = request_timeout_s;
  });
  Fill(*server, "c", 3000);
  return server;
}

TEST(HardeningTest, SearchPastItsDeadlineStopsWith503) {
  std::unique_ptr<TestServer> server = HeavySearchServer(1);
  const auto start = Clock::now();
  Response response = server->Post("/v2/collections/c/query", QueryBody(8000, 10000));
  const auto elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
  EXPECT_EQ(response.status, 503) << response.raw;
  EXPECT_NE(response.raw.find("--request-timeout"), std::string::npos) << response.raw;
  EXPECT_LT(elapsed, 4000);
  EXPECT_EQ(MetricValue(*server, R"(quiver_http_budget_exceeded_total{limit="deadline"})"), 1);
}

TEST(HardeningTest, DisconnectedClientStopsItsSearch) {
  // The deadline is far away: only the disconnect can stop the search.
  std::unique_ptr<TestServer> server = HeavySearchServer(600);
  const std::string body = QueryBody(8000, 10000);
  {
    RawConnection connection(server->port());
    connection.Send(
        "POST /v2/collections/c/query HTTP/1.1\r\nHost: x\r\nContent-Type: "
        "application/json\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body);
    std::this_thread::sleep_for(milliseconds(300));
  }  // closed here, while the search runs
  const auto start = Clock::now();
  double gone = 0;
  while (Clock::now() - start < milliseconds(3000) && gone < 1) {
    std::this_thread::sleep_for(milliseconds(50));
    gone = MetricValue(*server, R"(quiver_http_budget_exceeded_total{limit="client_gone"})");
  }
  EXPECT_EQ(gone, 1);
}

TEST(HardeningTest, StartFailsBeforeListeningWhenTheStoreIsLocked) {
  TestServer first;
  std::vector<std::string> lines;
  std::mutex mutex;
  ServerOptions options = TestOptions(first.data_dir());
  options.logger = [&](LogLevel, std::string_view line) {
    std::lock_guard<std::mutex> lock(mutex);
    lines.emplace_back(line);
  };
  options.store.logger = options.logger;
  Result<std::unique_ptr<Server>> second = Server::Start(options);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kBusy) << second.status().ToString();
  for (const std::string& line : lines)
    EXPECT_EQ(line.find("listening"), std::string::npos) << line;
}

TEST(HardeningTest, LoopbackHostsAreRecognised) {
  EXPECT_TRUE(IsLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackHost("127.3.2.1"));
  EXPECT_TRUE(IsLoopbackHost("::1"));
  EXPECT_FALSE(IsLoopbackHost("0.0.0.0"));
  EXPECT_FALSE(IsLoopbackHost("::"));
  EXPECT_FALSE(IsLoopbackHost("10.1.2.3"));
}

}  // namespace
}  // namespace quiver::server::testing
