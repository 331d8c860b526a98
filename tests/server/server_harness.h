// Copyright (c) Quiver authors.
//
// Test harness of the server tests: a real server, in this process, on a free
// port of 127.0.0.1 (never another address) with a temporary data directory,
// and helpers that talk HTTP to it with httplib::Client.

#ifndef QUIVER_TESTS_SERVER_SERVER_HARNESS_H_
#define QUIVER_TESTS_SERVER_SERVER_HARNESS_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "common/test_util.h"
#include "quiver/quiver.h"
#include "server/server.h"

namespace quiver::server::testing {

using Json = nlohmann::json;

/// Options for a test server: loopback, any free port, silent, 4 workers,
/// short timeouts so that timeout tests stay fast.
inline ServerOptions TestOptions(const std::string& data_dir) {
  ServerOptions options;
  options.data_dir = data_dir;
  options.host = "127.0.0.1";
  options.port = 0;
  options.threads = 4;
  options.header_timeout_s = 2;
  options.read_timeout_s = 2;
  options.write_timeout_s = 5;
  options.keep_alive_timeout_s = 2;
  options.logger = [](LogLevel, std::string_view) {};
  options.store.logger = options.logger;
  return options;
}

/// A response: status, parsed JSON body (null if not JSON) and the raw parts.
struct Response {
  int status = 0;
  Json body;
  std::string raw;
  httplib::Headers headers;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

inline Response ToResponse(const httplib::Result& result) {
  Response response;
  if (!result) {
    ADD_FAILURE() << "HTTP request failed: " << httplib::to_string(result.error());
    return response;
  }
  response.status = result->status;
  response.raw = result->body;
  response.headers = result->headers;
  response.body = Json::parse(result->body, nullptr, /*allow_exceptions=*/false);
  if (response.body.is_discarded()) response.body = nullptr;
  return response;
}

/// A running server with its own data directory, removed at the end.
class TestServer {
 public:
  /// Starts a server; `adjust` may change the options first.
  explicit TestServer(std::function<void(ServerOptions&)> adjust = nullptr)
      : adjust_(std::move(adjust)) {
    Start();
  }
  ~TestServer() { Stop(); }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  void Start() {
    ServerOptions options = TestOptions(dir_.path());
    if (adjust_) adjust_(options);
    Result<std::unique_ptr<Server>> server = Server::Start(options);
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(*server);
  }
  /// Graceful stop; the data directory stays.
  void Stop() {
    if (!server_) return;
    EXPECT_TRUE(server_->Stop().ok());
    server_.reset();
  }
  void Restart() {
    Stop();
    Start();
  }

  Server& server() { return *server_; }
  int port() const { return server_ ? server_->port() : 0; }
  const std::string& data_dir() const { return dir_.path(); }

  /// A client of this server (no keep-alive unless asked), 10 s timeouts.
  std::unique_ptr<httplib::Client> Client() const {
    auto client = std::make_unique<httplib::Client>("127.0.0.1", port());
    client->set_connection_timeout(10);
    client->set_read_timeout(10);
    client->set_write_timeout(10);
    if (!api_key_.empty()) client->set_bearer_token_auth(api_key_.c_str());
    return client;
  }
  /// Sent by the clients of Client() from now on.
  void UseApiKey(std::string key) { api_key_ = std::move(key); }

  Response Get(const std::string& path) const { return ToResponse(Client()->Get(path.c_str())); }
  Response Post(const std::string& path, const std::string& body,
                const std::string& content_type = "application/json") const {
    return ToResponse(Client()->Post(path.c_str(), body, content_type.c_str()));
  }
  Response Post(const std::string& path, const Json& body) const { return Post(path, body.dump()); }
  Response Put(const std::string& path, const Json& body) const {
    return ToResponse(Client()->Put(path.c_str(), body.dump(), "application/json"));
  }
  Response Delete(const std::string& path, const std::string& body = "",
                  const std::string& content_type = "application/json") const {
    return ToResponse(Client()->Delete(path.c_str(), body, content_type.c_str()));
  }
  Response Delete(const std::string& path, const Json& body) const {
    return Delete(path, body.dump());
  }

  /// Records in a collection, via the API (-1 if the collection does not exist).
  long long Count(const std::string& collection) const {
    Response response = Get("/v2/collections/" + collection + "/records/count");
    if (response.status == 404) return -1;
    EXPECT_EQ(response.status, 200) << response.raw;
    return response.body.value("count", -2LL);
  }
  /// Names of all collections, via the API.
  std::vector<std::string> CollectionNames() const {
    std::vector<std::string> names;
    Response response = Get("/v2/collections");
    EXPECT_EQ(response.status, 200) << response.raw;
    for (const Json& c : response.body["collections"]) names.push_back(c["name"]);
    return names;
  }
  /// Creates a collection via the API.
  void CreateCollection(const std::string& name, int dimensions,
                        const std::string& metric = "l2sq") const {
    Response response =
        Post("/v2/collections",
             Json{{"name", name}, {"config", {{"dimensions", dimensions}, {"metric", metric}}}});
    ASSERT_EQ(response.status, 201) << response.raw;
  }

 private:
  quiver::testing::TempDir dir_;
  std::function<void(ServerOptions&)> adjust_;
  std::unique_ptr<Server> server_;
  std::string api_key_;
};

/// A raw TCP connection to 127.0.0.1:port, for what httplib::Client cannot
/// send: malformed requests, trickled bytes, pipelining.
class RawConnection {
 public:
  explicit RawConnection(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  }
  ~RawConnection() { ::close(fd_); }

  bool Send(std::string_view bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }
  /// Reads until the peer closes the connection or `timeout` passes.
  std::string ReadUntilClosed(std::chrono::milliseconds timeout) {
    std::string received;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now())
                            .count();
      if (left <= 0) break;
      pollfd descriptor{fd_, POLLIN, 0};
      if (::poll(&descriptor, 1, static_cast<int>(left)) <= 0) break;
      char buffer[4096];
      const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
      if (n <= 0) {
        closed_ = true;
        break;
      }
      received.append(buffer, static_cast<std::size_t>(n));
    }
    return received;
  }
  /// True once ReadUntilClosed saw the peer close.
  bool closed() const { return closed_; }

 private:
  int fd_ = -1;
  bool closed_ = false;
};

/// A float vector as JSON.
inline Json Vector(std::initializer_list<float> values) { return Json(std::vector<float>(values)); }

}  // namespace quiver::server::testing

#endif  // QUIVER_TESTS_SERVER_SERVER_HARNESS_H_
