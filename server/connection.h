// Copyright (c) Quiver authors.
//
// One accepted TCP connection, seen by httplib as a Stream.
//
// Why not httplib's own socket layer: cpp-httplib 0.11 only bounds each
// single read, so a client that trickles one header byte every few seconds,
// or sends an endless chunked body, holds a worker thread forever. Here every
// request has deadlines and byte budgets:
//
//   headers  must arrive within header_timeout of the request's first byte
//            and fit in kHeaderBudgetBytes,
//   body     must arrive within read_timeout after the headers and fit in
//            max_body_bytes (plus framing slack for chunked bodies),
//   response must be written within write_timeout.
//
// A read that misses its deadline or exceeds its budget fails; the server
// then answers 408 or 413 (see read_failure()) and closes the connection.
//
// Thread safety: a Connection is used by one thread at a time (the poller
// while idle, one worker while serving); ownership moves with a unique_ptr.

#ifndef QUIVER_SERVER_CONNECTION_H_
#define QUIVER_SERVER_CONNECTION_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include <httplib.h>

namespace quiver::server {

using Clock = std::chrono::steady_clock;

/// Limits of every request on a connection.
struct ConnectionLimits {
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds read_timeout{30'000};
  std::chrono::milliseconds write_timeout{30'000};
  std::size_t max_body_bytes = 64u << 20;
};

/// Request line plus headers may take at most this many bytes.
inline constexpr std::size_t kHeaderBudgetBytes = 64u << 10;

/// Bytes a chunked body may use beyond max_body_bytes for its chunk-size lines.
/// (The router still rejects a decoded body above max_body_bytes with 413.)
inline constexpr std::size_t kChunkFramingSlackBytes = 64u << 10;

/// Why reading the current request failed.
enum class ReadFailure {
  kNone,
  kTimeout,          // a deadline passed: 408
  kHeadersTooLarge,  // the header budget ran out: 431
  kTooLarge,         // the body budget ran out: 413
  kClosed,           // the peer closed its side
  kError,            // a socket error
};

class Connection final : public httplib::Stream {
 public:
  /// Takes ownership of the connected socket `fd` (closed by the destructor).
  /// `open_connections`, if not null, is decremented by the destructor (the
  /// transport counts open connections with it).
  Connection(int fd, const ConnectionLimits& limits, std::atomic<int>* open_connections);
  ~Connection() override;

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Starts the next request: header deadline from now, header budget, write
  /// clock reset, read_failure() cleared.
  void BeginRequest();
  /// Called once the headers are parsed: the body must arrive within
  /// read_timeout and fit the body budget. A declared Content-Length above
  /// max_body_bytes empties the budget, so the body is not read at all.
  void BeginBody(std::optional<std::size_t> content_length);

  ReadFailure read_failure() const { return read_failure_; }

  /// Asks to close the connection after the current response (the request
  /// was malformed, so where the next one starts is unknown). Cleared by BeginRequest.
  void CloseAfterResponse() { close_after_response_ = true; }
  bool close_after_response() const { return close_after_response_; }

  /// Before closing a connection whose request was refused unread (413, or a
  /// malformed request):
  /// half-closes the sending side, then reads and discards what the client
  /// still sends, until it closes, read_timeout passes or 4 x max_body_bytes
  /// are discarded. Closing with unread input would make the kernel answer
  /// with a reset that can destroy the 413 response before the client reads it.
  void DiscardInputBeforeClose();
  /// Bytes received but not consumed yet (a pipelined next request).
  bool has_buffered_input() const { return buffer_begin_ < buffer_end_; }
  /// Requests started on this connection.
  int requests_started() const { return requests_started_; }

  // httplib::Stream.
  bool is_readable() const override;
  bool is_writable() const override;
  /// Reads up to `size` bytes: > 0 bytes read, 0 end of stream, -1 failure
  /// (see read_failure()).
  ssize_t read(char* ptr, size_t size) override;
  /// Writes up to `size` bytes (httplib loops over partial writes); -1 on
  /// failure or when the write deadline passed. Never raises SIGPIPE.
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  socket_t socket() const override { return fd_; }

 private:
  enum class Wait { kReady, kTimeout, kError };
  /// Waits until `fd_` has `events` (POLLIN/POLLOUT) or `deadline` passes.
  Wait WaitFor(short events, Clock::time_point deadline) const;
  ssize_t Fail(ReadFailure failure);

  const int fd_;
  const ConnectionLimits limits_;
  std::atomic<int>* const open_connections_;
  std::string remote_ip_, local_ip_;
  int remote_port_ = -1, local_port_ = -1;

  std::vector<char> buffer_;
  std::size_t buffer_begin_ = 0, buffer_end_ = 0;

  Clock::time_point read_deadline_;
  std::size_t read_budget_ = 0;
  bool reading_body_ = false;                        // which budget read_budget_ is
  std::optional<Clock::time_point> write_deadline_;  // set by the response's first write
  ReadFailure read_failure_ = ReadFailure::kNone;
  bool close_after_response_ = false;
  int requests_started_ = 0;
};

/// The connection whose request the calling thread is serving, or null. Lets
/// the router's error handler, which httplib calls without the stream, tell a
/// timeout (408) or an exhausted budget (413) from a malformed request (400).
Connection* CurrentConnection();

/// Sets CurrentConnection() for its lifetime (one request).
class ScopedCurrentConnection {
 public:
  explicit ScopedCurrentConnection(Connection* connection);
  ~ScopedCurrentConnection();
  ScopedCurrentConnection(const ScopedCurrentConnection&) = delete;
  ScopedCurrentConnection& operator=(const ScopedCurrentConnection&) = delete;

 private:
  Connection* previous_;
};

}  // namespace quiver::server

#endif  // QUIVER_SERVER_CONNECTION_H_
