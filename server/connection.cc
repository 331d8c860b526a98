// Copyright (c) Quiver authors.

#include "server/connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

namespace quiver::server {
namespace {

// One recv reads at most this much; one ReadAvailable call at most kReadsPerCall of them.
constexpr std::size_t kReadChunkBytes = 64u << 10;
constexpr int kReadsPerCall = 16;
// A chunk-size line (hex size and extensions) longer than this is refused.
constexpr std::size_t kMaxChunkLineBytes = 1024;
// An output buffer larger than this is released once sent.
constexpr std::size_t kKeepOutputCapacity = 1u << 20;

constexpr std::string_view kContinueResponse = "HTTP/1.1 100 Continue\r\n\r\n";

thread_local Connection* current_connection = nullptr;

// ASCII only, as HTTP field names and these values are (std::tolower consults the locale).
char LowerAscii(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (LowerAscii(a[i]) != LowerAscii(b[i])) return false;
  }
  return true;
}

bool ContainsIgnoreCase(std::string_view haystack, std::string_view needle) {
  for (std::size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    if (EqualsIgnoreCase(haystack.substr(i, needle.size()), needle)) return true;
  }
  return false;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
    text.remove_suffix(1);
  }
  return text;
}

// The methods whose requests httplib 0.11 reads a body for (detail::expect_content).
bool MethodHasBody(std::string_view method) {
  return method == "POST" || method == "PUT" || method == "PATCH" || method == "PRI" ||
         method == "DELETE";
}

}  // namespace

Connection::Connection(int fd, const ConnectionLimits& limits, std::string remote_ip)
    : fd_(fd), limits_(limits), remote_ip_(std::move(remote_ip)) {}

Connection::~Connection() {
  ::shutdown(fd_, SHUT_RDWR);
  ::close(fd_);
}

// ---------------------------------------------------------------- event loop

Framing Connection::ReadAvailable(bool* peer_closed) {
  *peer_closed = false;
  // Never buffer more than the largest request the limits allow (the scan
  // refuses it before that).
  const std::size_t input_limit =
      kHeaderBudgetBytes + limits_.max_body_bytes + kChunkFramingSlackBytes + kReadChunkBytes;
  char chunk[kReadChunkBytes];
  for (int i = 0; i < kReadsPerCall; ++i) {
    const std::size_t buffered = input_.size() - input_begin_;
    if (buffered >= input_limit) break;
    const std::size_t wanted = std::min(sizeof(chunk), input_limit - buffered);
    const ssize_t received = ::recv(fd_, chunk, wanted, MSG_DONTWAIT);
    if (received == 0) {
      *peer_closed = true;
      break;
    }
    if (received < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) *peer_closed = true;
      break;
    }
    input_.append(chunk, static_cast<std::size_t>(received));
    if (static_cast<std::size_t>(received) < wanted) break;  // drained: save a recv
  }
  return ScanBuffered();
}

Framing Connection::ScanBuffered() {
  if (scan_.scanned == 0 && scan_.head_bytes == 0 && input_begin_ > 0) {
    input_.erase(0, input_begin_);  // the previous request's bytes
    input_begin_ = 0;
  }
  if (scan_.head_bytes == 0) {
    const Framing head = ScanHead();
    if (head != Framing::kPartialBody) return head;
  }
  return ScanBody();
}

Framing Connection::ScanHead() {
  const std::string_view buffered = std::string_view(input_).substr(input_begin_);
  if (buffered.empty()) return Framing::kEmpty;
  const std::size_t from = scan_.scanned >= 3 ? scan_.scanned - 3 : 0;
  const std::size_t end = buffered.find("\r\n\r\n", from);
  if (end == std::string_view::npos) {
    scan_.scanned = buffered.size();
    const std::size_t line_end = buffered.find('\n');
    if (line_end == std::string_view::npos && buffered.size() > kRequestLineBudgetBytes) {
      return Framing::kUriTooLong;
    }
    if (line_end != std::string_view::npos && line_end > kRequestLineBudgetBytes) {
      return Framing::kUriTooLong;
    }
    return buffered.size() > kHeaderBudgetBytes ? Framing::kHeadersTooLarge : Framing::kPartialHead;
  }
  const std::size_t line_end = buffered.find('\n');
  if (line_end > kRequestLineBudgetBytes) return Framing::kUriTooLong;
  if (end + 4 > kHeaderBudgetBytes) return Framing::kHeadersTooLarge;
  scan_.head_bytes = end + 4;
  const Framing parsed = ParseHead(buffered.substr(0, end + 2));
  if (parsed != Framing::kPartialBody) scan_.head_bytes = 0;
  return parsed;
}

Framing Connection::ParseHead(std::string_view head) {
  const std::size_t line_end = head.find("\r\n");
  const std::string_view request_line = head.substr(0, line_end);
  const std::string_view method = request_line.substr(0, request_line.find(' '));
  bool has_length = false;
  bool expect_continue = false;
  std::size_t expect_offset = 0;
  std::size_t position = line_end + 2;
  while (position < head.size()) {
    const std::size_t next = head.find("\r\n", position);
    const std::string_view line = head.substr(position, next - position);
    const std::size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      const std::string_view name = Trim(line.substr(0, colon));
      const std::string_view value = Trim(line.substr(colon + 1));
      if (EqualsIgnoreCase(name, "Content-Length")) {
        std::size_t length = 0;
        const auto [end, error] =
            std::from_chars(value.data(), value.data() + value.size(), length);
        if (error != std::errc() || end != value.data() + value.size() ||
            (has_length && length != scan_.content_length)) {
          return Framing::kBadFraming;
        }
        has_length = true;
        scan_.content_length = length;
      } else if (EqualsIgnoreCase(name, "Transfer-Encoding")) {
        scan_.chunked = ContainsIgnoreCase(value, "chunked");
      } else if (EqualsIgnoreCase(name, "Expect") && EqualsIgnoreCase(value, "100-continue")) {
        expect_continue = true;
        expect_offset = position;
      }
    }
    position = next + 2;
  }
  if (!MethodHasBody(method)) {
    scan_.content_length = 0;
    scan_.chunked = false;
    return Framing::kPartialBody;  // ScanBody finds it complete
  }
  if (!scan_.chunked && scan_.content_length > limits_.max_body_bytes) {
    // Refused unread: httplib's Expect handler or the body read answers 413.
    scan_.refuse_body = true;
    return Framing::kPartialBody;
  }
  if (expect_continue && !scan_.continue_sent) {
    // Answer it here, so that the client sends its body while no worker waits,
    // and hide the header from httplib, which would answer it a second time.
    scan_.continue_sent = true;
    input_[input_begin_ + expect_offset] = 'X';  // "Expect" -> "Xxpect"
    QueueOutput(kContinueResponse);
    bool failed = false;
    Flush(&failed);
  }
  if (scan_.chunked) scan_.chunk_offset = scan_.head_bytes;
  return Framing::kPartialBody;
}

Framing Connection::ScanBody() {
  if (scan_.refuse_body) return Framing::kComplete;
  if (scan_.chunked) return ScanChunks();
  const std::size_t buffered = input_.size() - input_begin_;
  return buffered >= scan_.head_bytes + scan_.content_length ? Framing::kComplete
                                                             : Framing::kPartialBody;
}

Framing Connection::ScanChunks() {
  const std::string_view buffered = std::string_view(input_).substr(input_begin_);
  for (;;) {
    if (scan_.chunk_offset - scan_.head_bytes > limits_.max_body_bytes + kChunkFramingSlackBytes) {
      scan_.refuse_body = true;  // httplib reads to the end of the buffer, then fails: 413
      return Framing::kComplete;
    }
    const std::size_t line_end = buffered.find("\r\n", scan_.chunk_offset);
    if (line_end == std::string_view::npos) {
      return buffered.size() - scan_.chunk_offset > kMaxChunkLineBytes ? Framing::kBadFraming
                                                                       : Framing::kPartialBody;
    }
    if (line_end - scan_.chunk_offset > kMaxChunkLineBytes) return Framing::kBadFraming;
    std::string_view size_text = buffered.substr(scan_.chunk_offset, line_end - scan_.chunk_offset);
    size_text = Trim(size_text.substr(0, size_text.find(';')));
    std::size_t size = 0;
    const auto [end, error] =
        std::from_chars(size_text.data(), size_text.data() + size_text.size(), size, 16);
    if (size_text.empty() || error != std::errc() || end != size_text.data() + size_text.size()) {
      return Framing::kBadFraming;
    }
    const std::size_t data_begin = line_end + 2;
    if (size == 0) {
      // The last chunk, then trailer lines up to an empty line.
      if (buffered.size() >= data_begin + 2 && buffered.substr(data_begin, 2) == "\r\n") {
        return Framing::kComplete;
      }
      const std::size_t trailers_end = buffered.find("\r\n\r\n", data_begin);
      if (trailers_end != std::string_view::npos) return Framing::kComplete;
      return buffered.size() - data_begin > kHeaderBudgetBytes ? Framing::kHeadersTooLarge
                                                               : Framing::kPartialBody;
    }
    if (size > limits_.max_body_bytes) {
      scan_.refuse_body = true;
      return Framing::kComplete;
    }
    if (buffered.size() < data_begin + size + 2) return Framing::kPartialBody;
    scan_.chunk_body_bytes += size;
    scan_.chunk_offset = data_begin + size + 2;
  }
}

bool Connection::Flush(bool* failed) {
  *failed = false;
  while (output_sent_ < output_.size()) {
    const ssize_t sent = ::send(fd_, output_.data() + output_sent_, output_.size() - output_sent_,
                                MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) *failed = true;
      return false;
    }
    output_sent_ += static_cast<std::size_t>(sent);
  }
  if (output_.capacity() > kKeepOutputCapacity) {
    std::string().swap(output_);
  } else {
    output_.clear();
  }
  output_sent_ = 0;
  return true;
}

bool Connection::DiscardAvailable(std::size_t budget) {
  char chunk[kReadChunkBytes];
  std::size_t discarded = 0;
  for (;;) {
    const ssize_t received = ::recv(fd_, chunk, sizeof(chunk), MSG_DONTWAIT);
    if (received == 0) return false;
    if (received < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    discarded += static_cast<std::size_t>(received);
    if (discarded >= budget) return false;
  }
}

void Connection::ShutdownWrite() { ::shutdown(fd_, SHUT_WR); }

bool Connection::PeerGone() const {
  pollfd descriptor{fd_, POLLRDHUP, 0};
  return ::poll(&descriptor, 1, 0) > 0 &&
         (descriptor.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

// ---------------------------------------------------------------- worker side

void Connection::BeginRequest(std::chrono::milliseconds request_timeout) {
  ++requests_started_;
  request_deadline_ = Clock::now() + request_timeout;
  refuse_body_ = scan_.refuse_body;
  scan_ = Scan{};
  reading_body_ = false;
  read_failure_ = ReadFailure::kNone;
  close_after_response_ = false;
}

void Connection::BeginBody(std::optional<std::size_t> content_length) {
  reading_body_ = true;
  if (content_length.has_value() && *content_length > limits_.max_body_bytes) refuse_body_ = true;
}

ssize_t Connection::Fail(ReadFailure failure) {
  read_failure_ = failure;
  return failure == ReadFailure::kClosed ? 0 : -1;
}

ssize_t Connection::read(char* ptr, size_t size) {
  if (size == 0) return 0;
  if (reading_body_ && refuse_body_) return Fail(ReadFailure::kTooLarge);
  if (!has_buffered_input()) {
    // The scan said the request was complete, so httplib wants bytes that are
    // not part of it: a framing the scan and httplib read differently.
    return Fail(ReadFailure::kError);
  }
  const std::size_t n = std::min(size, input_.size() - input_begin_);
  std::memcpy(ptr, input_.data() + input_begin_, n);
  input_begin_ += n;
  return static_cast<ssize_t>(n);
}

ssize_t Connection::write(const char* ptr, size_t size) {
  output_.append(ptr, size);
  return static_cast<ssize_t>(size);
}

void Connection::get_remote_ip_and_port(std::string& ip, int& port) const {
  ip = remote_ip_;
  port = -1;
}

void Connection::get_local_ip_and_port(std::string& ip, int& port) const {
  ip.clear();
  port = -1;
}

Connection* CurrentConnection() { return current_connection; }

ScopedCurrentConnection::ScopedCurrentConnection(Connection* connection)
    : previous_(current_connection) {
  current_connection = connection;
}

ScopedCurrentConnection::~ScopedCurrentConnection() { current_connection = previous_; }

}  // namespace quiver::server
