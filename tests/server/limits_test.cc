// Copyright (c) Quiver authors.
//
// Limits and timeouts: body size (declared and chunked), slow clients
// (headers and bodies), keep-alive and pipelining.

#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "server_harness.h"

namespace quiver::server::testing {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

// A server with a 64 KiB body limit and 1 s header/read timeouts.
TestServer SmallLimitsServer() {
  return TestServer([](ServerOptions& options) {
    options.max_body_bytes = 64u << 10;
    options.header_timeout_s = 1;
    options.read_timeout_s = 1;
  });
}

std::string StatusLine(const std::string& response) {
  return response.substr(0, response.find("\r\n"));
}

TEST(LimitsTest, DeclaredBodyAboveLimitIs413AndTheClientGetsIt) {
  TestServer server = SmallLimitsServer();
  server.CreateCollection("c", 2);
  // 1 MiB: well above the limit and the socket buffers; the server refuses
  // before reading it and drains it so the client still reads the answer.
  Response response = server.Post("/v2/collections/c/records", std::string(1u << 20, ' '));
  EXPECT_EQ(response.status, 413) << response.raw;
  EXPECT_EQ(response.body["error"]["code"], "payload_too_large");
  EXPECT_EQ(server.Count("c"), 0);
}

TEST(LimitsTest, ExpectContinueWithBodyAboveLimitIsRefusedBeforeTheBody) {
  TestServer server = SmallLimitsServer();
  RawConnection connection(server.port());
  ASSERT_TRUE(connection.Send(
      "POST /v2/collections HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 10000000\r\nExpect: 100-continue\r\n\r\n"));
  // No "100 Continue": the final answer comes at once, and no body is needed.
  const std::string response = connection.ReadUntilClosed(milliseconds(3000));
  EXPECT_EQ(StatusLine(response), "HTTP/1.1 413 Payload Too Large") << response;
  EXPECT_NE(response.find("payload_too_large"), std::string::npos) << response;
  EXPECT_EQ(response.find("100 Continue"), std::string::npos) << response;
}

TEST(LimitsTest, ChunkedBodyAboveLimitIs413) {
  TestServer server = SmallLimitsServer();
  server.CreateCollection("c", 2);
  auto client = server.Client();
  int chunks_sent = 0;
  // No length up front: httplib sends it chunked. 256 chunks of 1 KiB = 4x the limit.
  httplib::Result result = client->Post(
      "/v2/collections/c/records",
      [&](std::size_t, httplib::DataSink& sink) {
        if (chunks_sent++ == 256) {
          sink.done();
          return true;
        }
        const std::string chunk(1024, ' ');
        return sink.write(chunk.data(), chunk.size());
      },
      "application/json");
  Response response = ToResponse(result);
  EXPECT_EQ(response.status, 413) << response.raw;
  EXPECT_EQ(server.Count("c"), 0);
}

TEST(LimitsTest, SlowHeadersAreCutOffWith408) {
  TestServer server = SmallLimitsServer();
  RawConnection connection(server.port());
  const Clock::time_point start = Clock::now();
  ASSERT_TRUE(connection.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n"));
  // Trickle one header byte every 100 ms, bounded to 40 bytes (4 s): the
  // server must give up after its 1 s header timeout.
  std::string response;
  for (int i = 0; i < 40 && !connection.closed(); ++i) {
    if (!connection.Send("X")) break;
    response += connection.ReadUntilClosed(milliseconds(100));
  }
  response += connection.ReadUntilClosed(milliseconds(2000));
  const auto elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
  EXPECT_TRUE(connection.closed());
  EXPECT_LT(elapsed.count(), 3000);
  EXPECT_EQ(StatusLine(response), "HTTP/1.1 408 Request Timeout") << response;
  // The server is still fine.
  EXPECT_EQ(server.Get("/healthz").status, 200);
}

TEST(LimitsTest, SlowBodyIsCutOffWith408) {
  TestServer server = SmallLimitsServer();
  server.CreateCollection("c", 2);
  RawConnection connection(server.port());
  ASSERT_TRUE(connection.Send(
      "POST /v2/collections/c/records HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Content-Length: 1000\r\n\r\n{\"records\": "));
  const std::string response = connection.ReadUntilClosed(milliseconds(3000));
  EXPECT_TRUE(connection.closed());
  EXPECT_EQ(StatusLine(response), "HTTP/1.1 408 Request Timeout") << response;
  EXPECT_EQ(server.Count("c"), 0);
}

TEST(LimitsTest, IdleConnectionsAreClosedAfterKeepAliveTimeout) {
  TestServer server([](ServerOptions& options) { options.keep_alive_timeout_s = 1; });
  RawConnection connection(server.port());
  const Clock::time_point start = Clock::now();
  connection.ReadUntilClosed(milliseconds(3000));
  EXPECT_TRUE(connection.closed());
  EXPECT_LT(std::chrono::duration_cast<milliseconds>(Clock::now() - start).count(), 2500);
}

TEST(LimitsTest, KeepAliveAndPipelining) {
  TestServer server;
  // Keep-alive: one client, one connection, many requests.
  auto client = server.Client();
  client->set_keep_alive(true);
  for (int i = 0; i < 20; ++i) ASSERT_EQ(client->Get("/healthz")->status, 200);

  // Pipelining: three requests in one write, three responses in order.
  RawConnection connection(server.port());
  ASSERT_TRUE(
      connection.Send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                      "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n"
                      "GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  const std::string responses = connection.ReadUntilClosed(milliseconds(3000));
  const std::size_t first = responses.find("HTTP/1.1 200");
  const std::size_t second = responses.find("HTTP/1.1 200", first + 1);
  const std::size_t third = responses.find("HTTP/1.1 404");
  EXPECT_NE(first, std::string::npos) << responses;
  EXPECT_NE(second, std::string::npos) << responses;
  EXPECT_NE(third, std::string::npos) << responses;
  EXPECT_LT(second, third);
  EXPECT_TRUE(connection.closed());
}

TEST(LimitsTest, HeadersAbove64KiBAre431) {
  TestServer server;
  RawConnection connection(server.port());
  std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
  // 100 headers of 1 KiB: each line is fine, together they pass 64 KiB.
  for (int i = 0; i < 100; ++i)
    request += "X-Filler-" + std::to_string(i) + ": " + std::string(1000, 'f') + "\r\n";
  request += "\r\n";
  connection.Send(request);  // the server may close before taking it all
  const std::string response = connection.ReadUntilClosed(milliseconds(3000));
  EXPECT_EQ(StatusLine(response), "HTTP/1.1 431 Request Header Fields Too Large") << response;
  EXPECT_NE(response.find("headers_too_large"), std::string::npos) << response;
}

TEST(LimitsTest, MalformedRequestLineIs400Json) {
  TestServer server;
  RawConnection connection(server.port());
  ASSERT_TRUE(connection.Send("NONSENSE\r\n\r\n"));
  const std::string response = connection.ReadUntilClosed(milliseconds(3000));
  EXPECT_EQ(StatusLine(response), "HTTP/1.1 400 Bad Request") << response;
  EXPECT_NE(response.find("\"bad_request\""), std::string::npos) << response;
}

TEST(LimitsTest, PostWithoutLengthHasNoBody) {
  TestServer server;
  // Neither Content-Length nor Transfer-Encoding: the body is empty (RFC 9112),
  // answered at once instead of waiting for the client to close.
  RawConnection connection(server.port());
  ASSERT_TRUE(connection.Send(
      "POST /v2/collections HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Connection: close\r\n\r\n"));
  const std::string response = connection.ReadUntilClosed(milliseconds(3000));
  EXPECT_EQ(StatusLine(response), "HTTP/1.1 400 Bad Request") << response;
  EXPECT_NE(response.find("not valid JSON"), std::string::npos) << response;
}

}  // namespace
}  // namespace quiver::server::testing
