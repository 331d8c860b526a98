// Copyright (c) Quiver authors.
//
// One accepted TCP connection: the bytes it has received, the bytes of the
// response being sent, and where it is in the HTTP exchange. httplib sees it
// as a Stream.
//
// Why not httplib's own socket layer: cpp-httplib 0.11 reads a request on a
// worker thread with blocking reads, so a client that trickles one header
// byte a second holds that worker for as long as the deadlines allow. Here
// the transport's event loop reads without blocking (ReadAvailable) and hands
// a connection to httplib only once a whole request is buffered; httplib then
// parses from memory, and its writes go to an output buffer that the event
// loop sends without blocking (Flush). No worker ever waits on a client.
//
// Per request, the framing scan (ScanBuffered) bounds:
//   request line  kRequestLineBudgetBytes (more: 414)
//   head          request line + headers in kHeaderBudgetBytes (more: 431)
//   body          max_body_bytes (Content-Length above it: 413 without
//                 reading the body; a chunked body above it plus
//                 kChunkFramingSlackBytes: 413)
// The deadlines (header_timeout from a request's first byte, read_timeout
// for the body, write_timeout for the response) are kept by the transport.
//
// Thread safety: a Connection is used by one thread at a time (the thread
// that holds it busy in the transport); the transport's lock hands it over.

#ifndef QUIVER_SERVER_CONNECTION_H_
#define QUIVER_SERVER_CONNECTION_H_

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

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

/// The request line alone may take at most this many bytes (else 414).
inline constexpr std::size_t kRequestLineBudgetBytes = kHeaderBudgetBytes;

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
  kError,            // a socket error, or a request that its framing did not hold
};

/// What the buffered bytes of a connection hold.
enum class Framing {
  kEmpty,            // nothing of the next request yet
  kPartialHead,      // part of a request line or headers
  kPartialBody,      // the head, and part of the body
  kComplete,         // a whole request (or one httplib must refuse: see the file comment)
  kUriTooLong,       // the request line is over kRequestLineBudgetBytes: answer 414
  kHeadersTooLarge,  // the head is over kHeaderBudgetBytes: answer 431
  kBadFraming,       // unparsable Content-Length or chunk size: answer 400
};

class Connection final : public httplib::Stream {
 public:
  /// Takes ownership of the connected, non-blocking socket `fd` (closed by the
  /// destructor). `remote_ip` is the peer's address as text.
  Connection(int fd, const ConnectionLimits& limits, std::string remote_ip);
  ~Connection() override;

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // ---- event-loop side (never blocks)

  /// Receives what the socket holds (at most 4 x 64 KiB per call, so one busy
  /// client cannot keep a thread here) and returns the framing of the buffered
  /// bytes. `*peer_closed` is set when the peer closed its side or the socket
  /// failed. Answers "Expect: 100-continue" itself once the head is in and the
  /// declared body fits (so the client sends the body while no worker waits).
  Framing ReadAvailable(bool* peer_closed);
  /// The framing of the bytes already buffered (e.g. a pipelined request).
  Framing ScanBuffered();
  /// Sends buffered response bytes until done or the socket would block.
  /// Returns true when everything is sent; false with `*failed` on a socket
  /// error (the peer is gone).
  bool Flush(bool* failed);
  /// Bytes of the response not sent yet.
  bool has_pending_output() const { return output_sent_ < output_.size(); }
  /// Queues `bytes` (a whole response the transport wrote itself) for Flush.
  void QueueOutput(std::string_view bytes) { output_.append(bytes); }
  /// Reads and drops whatever the socket holds; false once the peer closed
  /// it or `budget` bytes in total were dropped (then close the connection).
  bool DiscardAvailable(std::size_t budget);
  /// Half-closes the sending side (after a response that must end the connection).
  void ShutdownWrite();
  /// True if the peer has closed or reset the connection (checked without blocking).
  bool PeerGone() const;

  // ---- worker side (httplib parses from the buffer)

  /// Starts serving the buffered request: read_failure() cleared, the
  /// request's deadline set to now + `request_timeout`.
  void BeginRequest(std::chrono::milliseconds request_timeout);
  /// Called once the headers are parsed. A declared Content-Length above
  /// max_body_bytes makes the body read fail with kTooLarge (413).
  void BeginBody(std::optional<std::size_t> content_length);
  ReadFailure read_failure() const { return read_failure_; }
  /// When the work of the current request must stop (see server/budget.h).
  Clock::time_point request_deadline() const { return request_deadline_; }

  /// Asks to close the connection after the current response (the request
  /// was malformed or refused unread, so where the next one starts is
  /// unknown). Cleared by BeginRequest.
  void CloseAfterResponse() { close_after_response_ = true; }
  bool close_after_response() const { return close_after_response_; }

  /// Bytes received but not consumed yet (a pipelined next request).
  bool has_buffered_input() const { return input_begin_ < input_.size(); }
  /// Requests started on this connection.
  int requests_started() const { return requests_started_; }
  const std::string& remote_ip() const { return remote_ip_; }

  // httplib::Stream. Reads come from the buffer only: a read past the
  // buffered request fails (the framing scan and httplib disagreed).
  bool is_readable() const override { return has_buffered_input(); }
  bool is_writable() const override { return true; }
  ssize_t read(char* ptr, size_t size) override;
  /// Appends to the output buffer; always "succeeds" (Flush sends it).
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  /// httplib 0.11 (built without CPPHTTPLIB_USE_POLL) answers 500 to a stream
  /// whose socket() is >= FD_SETSIZE, a limit of select(2) that this stream
  /// never uses: descriptors at or above it are reported as 0.
  socket_t socket() const override { return fd_ < FD_SETSIZE ? fd_ : 0; }
  /// The socket itself (for the transport's epoll set).
  int socket_fd() const { return fd_; }

 private:
  // Incremental framing of the request at input_begin_.
  struct Scan {
    std::size_t scanned = 0;     // bytes of the head already searched for its end
    std::size_t head_bytes = 0;  // 0 until the head is complete
    bool chunked = false;
    std::size_t content_length = 0;
    bool refuse_body = false;          // Content-Length over the budget: complete at the head
    std::size_t chunk_offset = 0;      // chunked: where the next chunk-size line starts
    std::size_t chunk_body_bytes = 0;  // chunked: data bytes so far
    bool continue_sent = false;
  };
  Framing ScanHead();
  Framing ScanBody();
  Framing ScanChunks();
  // Parses Content-Length / Transfer-Encoding / Expect from the complete head.
  Framing ParseHead(std::string_view head);
  ssize_t Fail(ReadFailure failure);

  const int fd_;
  const ConnectionLimits limits_;
  const std::string remote_ip_;

  std::string input_;
  std::size_t input_begin_ = 0;  // start of the unconsumed input
  std::string output_;
  std::size_t output_sent_ = 0;
  Scan scan_;
  bool expect_continue_ = false;

  Clock::time_point request_deadline_;
  bool reading_body_ = false;
  bool refuse_body_ = false;  // set by BeginBody
  ReadFailure read_failure_ = ReadFailure::kNone;
  bool close_after_response_ = false;
  int requests_started_ = 0;
};

/// The connection whose request the calling thread is serving, or null. Lets
/// the router's error handler, which httplib calls without the stream, tell a
/// timeout (408) or an exhausted budget (413) from a malformed request (400),
/// and lets long work (server/budget.h) see its deadline and a gone client.
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
