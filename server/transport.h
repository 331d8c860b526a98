// Copyright (c) Quiver authors.
//
// The connection layer: a listening socket, an epoll(7) set, `threads`
// worker threads and one housekeeping thread. No thread ever blocks on a
// client:
//
//   workers       wait in epoll_wait for the next ready connection (one event
//                 each, EPOLLONESHOT, so a connection is on one thread at a
//                 time). A readable connection is read without blocking into
//                 its buffer; only once a whole request is buffered does the
//                 worker parse and serve it (httplib, from memory), queue the
//                 response and send what the socket takes. The rest is sent
//                 when the socket is writable again. A worker is busy only
//                 while it parses, serves and copies bytes.
//   housekeeping  every kHousekeepingInterval: closes connections past their
//                 deadline (idle keep-alive: silently; head or body not in
//                 time: 408 first; response not taken in time: silently), and
//                 re-arms accepting once below max_connections.
//
// Connection caps: at most max_connections open at once (the rest wait in the
// kernel's accept queue) and at most max_connections_per_address from one
// peer address (more are closed on accept and counted in /metrics).
//
// Stop() is graceful: stops accepting, closes connections that are not in
// the middle of a request, lets the requests being served finish (their
// responses carry "Connection: close") and the responses being sent drain
// (each within write_timeout), then joins the threads.
//
// Library choice: libevent, libuv, Boost.Asio and libmicrohttpd are all in
// Debian, but the server's request parsing and routing are httplib's, and
// what httplib lacked was only a non-blocking read of the request and write
// of the response. An epoll loop that buffers whole requests is ~400 lines,
// adds no dependency and keeps one HTTP parser; see docs/http-api.md.

#ifndef QUIVER_SERVER_TRANSPORT_H_
#define QUIVER_SERVER_TRANSPORT_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "quiver/options.h"
#include "quiver/status.h"
#include "server/connection.h"

namespace quiver::server {

/// Why the transport answered or closed a connection itself.
enum class TransportEvent {
  kRefusedPerAddress,  // accept: the peer address already has its maximum
  kHeaderTimeout,      // 408: request line and headers not in within header_timeout
  kBodyTimeout,        // 408: body not in within read_timeout
  kWriteTimeout,       // closed: the client did not take the response within write_timeout
  kUriTooLong,         // 414
  kHeadersTooLarge,    // 431
  kBadFraming,         // 400
};

/// Serves the requests the transport has buffered (implemented by Router).
class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  /// Parses the one request buffered in `connection` and writes its response
  /// (to the connection's output buffer). With `close_connection`, the
  /// response says "Connection: close". Returns true iff the connection may
  /// serve another request (false: the request was malformed or refused, or
  /// either side asked to close).
  virtual bool ServeRequest(Connection& connection, bool close_connection) = 0;
  /// The whole HTTP response (status line to body, "Connection: close") the
  /// transport sends for `event` (not called for kRefusedPerAddress and
  /// kWriteTimeout, which close without an answer). Also counts it in
  /// /metrics. Called from any thread.
  virtual std::string TransportErrorResponse(TransportEvent event) = 0;
  /// Counts an event that gets no response (kRefusedPerAddress, kWriteTimeout).
  virtual void CountTransportEvent(TransportEvent event) = 0;
};

struct TransportOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0 = any free port
  int threads = 2;
  ConnectionLimits limits;
  std::chrono::milliseconds keep_alive_timeout{5'000};
  int keep_alive_max_requests = 1000;
  /// Time one request may spend being served (see server/budget.h).
  std::chrono::milliseconds request_timeout{30'000};
  /// Connections open at once; more wait in the kernel's accept queue.
  int max_connections = 4096;
  /// Connections open at once from one peer address; more are closed on accept.
  int max_connections_per_address = 256;
  Logger logger;
};

class Transport {
 public:
  /// Binds and listens on options.host:options.port (SO_REUSEADDR). Threads
  /// start with Start(). `handler` is not owned and must outlive the transport.
  /// InvalidArgument for an unresolvable host; IOError if no address binds or
  /// epoll cannot be set up.
  static Result<std::unique_ptr<Transport>> Listen(RequestHandler* handler,
                                                   const TransportOptions& options);
  /// Stop()s.
  ~Transport();

  /// The bound port.
  int port() const { return port_; }
  /// Starts the workers and the housekeeping thread. Call once.
  void Start();
  /// Graceful stop (see the file comment); returns when every thread has
  /// exited. Idempotent.
  void Stop();
  /// Connections open now (for /metrics).
  int open_connections() const { return open_connections_.load(); }

 private:
  // Where a connection is in its exchange; decides its deadline.
  enum class Phase { kIdle, kHead, kBody, kWriting, kDraining };
  // What happens once a response is sent.
  enum class AfterWrite { kContinue, kClose, kDrain };

  struct Entry {
    std::unique_ptr<Connection> connection;
    std::string address;
    bool busy = false;  // a thread holds it (not armed in epoll)
    Phase phase = Phase::kIdle;
    AfterWrite after_write = AfterWrite::kContinue;
    Clock::time_point deadline;
  };

  Transport(RequestHandler* handler, const TransportOptions& options, int listen_fd, int epoll_fd,
            int wake_fd, int port);

  void WorkerLoop();
  void HousekeepingLoop();
  void AcceptConnections();
  // Handles one epoll event of the entry `id` (held busy by the caller).
  void HandleEvent(std::uint64_t id, Entry* entry, std::uint32_t events);
  // Reads, and serves every whole request buffered; leaves the entry's phase
  // and deadline set for Release.
  void ReadAndServe(Entry* entry);
  // After a send attempt: continue reading, drain or close.
  void AfterResponse(Entry* entry);
  // Answers a framing error itself and closes after the answer.
  void AnswerAndClose(Entry* entry, TransportEvent event);
  // Gives the entry back to epoll (or closes it when `close`); takes mutex_.
  void Release(std::uint64_t id, bool close);
  // Removes an entry; mutex_ held.
  void CloseLocked(std::uint64_t id);
  // Sets the phase of an entry from its connection's framing.
  void SetReadPhase(Entry* entry, Framing framing);

  RequestHandler* const handler_;
  const TransportOptions options_;
  const int listen_fd_;
  const int epoll_fd_;
  const int wake_fd_;  // eventfd in the epoll set: readable once stopping
  const int port_;

  std::atomic<bool> stopping_{false};
  std::atomic<int> open_connections_{0};

  std::mutex mutex_;
  std::condition_variable closed_;        // an entry was closed (Stop waits for none left)
  std::condition_variable housekeeping_;  // wakes the housekeeping thread to exit
  std::unordered_map<std::uint64_t, Entry> entries_;  // guarded
  std::unordered_map<std::string, int> per_address_;  // guarded
  std::uint64_t next_id_ = 2;                         // guarded; 0 listen, 1 wake
  bool listen_armed_ = true;                          // guarded
  bool listening_ = true;                             // guarded; false once closed
  bool started_ = false;                              // guarded
  std::once_flag stop_once_;

  std::vector<std::thread> workers_;
  std::thread housekeeping_thread_;
};

}  // namespace quiver::server

#endif  // QUIVER_SERVER_TRANSPORT_H_
