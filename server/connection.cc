// Copyright (c) Quiver authors.

#include "server/connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

namespace quiver::server {
namespace {

constexpr std::size_t kReadBufferBytes = 16u << 10;

thread_local Connection* current_connection = nullptr;

// Address and port of a socket address, "" / -1 if it is neither IPv4 nor IPv6.
void DescribeAddress(const sockaddr_storage& address, std::string* ip, int* port) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&address);
    inet_ntop(AF_INET, &v4->sin_addr, text, sizeof(text));
    *port = ntohs(v4->sin_port);
  } else if (address.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&address);
    inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof(text));
    *port = ntohs(v6->sin6_port);
  }
  *ip = text;
}

}  // namespace

Connection::Connection(int fd, const ConnectionLimits& limits, std::atomic<int>* open_connections)
    : fd_(fd), limits_(limits), open_connections_(open_connections), buffer_(kReadBufferBytes) {
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  if (getpeername(fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    DescribeAddress(address, &remote_ip_, &remote_port_);
  }
  length = sizeof(address);
  if (getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
    DescribeAddress(address, &local_ip_, &local_port_);
  }
}

Connection::~Connection() {
  ::shutdown(fd_, SHUT_RDWR);
  ::close(fd_);
  if (open_connections_ != nullptr) open_connections_->fetch_sub(1);
}

void Connection::BeginRequest() {
  ++requests_started_;
  read_deadline_ = Clock::now() + limits_.header_timeout;
  read_budget_ = kHeaderBudgetBytes;
  reading_body_ = false;
  write_deadline_.reset();
  read_failure_ = ReadFailure::kNone;
  close_after_response_ = false;
}

void Connection::BeginBody(std::optional<std::size_t> content_length) {
  read_deadline_ = Clock::now() + limits_.read_timeout;
  reading_body_ = true;
  if (content_length.has_value()) {
    read_budget_ = *content_length <= limits_.max_body_bytes ? *content_length : 0;
  } else {
    read_budget_ = limits_.max_body_bytes + kChunkFramingSlackBytes;
  }
}

Connection::Wait Connection::WaitFor(short events, Clock::time_point deadline) const {
  for (;;) {
    const auto remaining =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (remaining <= 0) return Wait::kTimeout;
    pollfd descriptor{fd_, events, 0};
    const int ready =
        ::poll(&descriptor, 1, static_cast<int>(std::min<long long>(remaining, INT_MAX)));
    if (ready > 0) return Wait::kReady;  // including POLLHUP/POLLERR: recv/send report those
    if (ready < 0 && errno != EINTR) return Wait::kError;
  }
}

ssize_t Connection::Fail(ReadFailure failure) {
  read_failure_ = failure;
  return failure == ReadFailure::kClosed ? 0 : -1;
}

void Connection::DiscardInputBeforeClose() {
  ::shutdown(fd_, SHUT_WR);
  const Clock::time_point deadline = Clock::now() + limits_.read_timeout;
  const std::size_t max_bytes = 4 * limits_.max_body_bytes;
  std::size_t discarded = 0;
  while (discarded < max_bytes && WaitFor(POLLIN, deadline) == Wait::kReady) {
    const ssize_t received = ::recv(fd_, buffer_.data(), buffer_.size(), 0);
    if (received <= 0 && !(received < 0 && errno == EINTR)) break;
    if (received > 0) discarded += static_cast<std::size_t>(received);
  }
  buffer_begin_ = buffer_end_ = 0;
}

bool Connection::is_readable() const {
  if (has_buffered_input()) return true;
  pollfd descriptor{fd_, POLLIN, 0};
  return ::poll(&descriptor, 1, 0) > 0;
}

bool Connection::is_writable() const {
  pollfd descriptor{fd_, POLLOUT, 0};
  return ::poll(&descriptor, 1, 0) > 0 && (descriptor.revents & (POLLERR | POLLHUP)) == 0;
}

ssize_t Connection::read(char* ptr, size_t size) {
  if (size == 0) return 0;
  if (!has_buffered_input()) {
    if (read_failure_ != ReadFailure::kNone) return read_failure_ == ReadFailure::kClosed ? 0 : -1;
    if (read_budget_ == 0) {
      return Fail(reading_body_ ? ReadFailure::kTooLarge : ReadFailure::kHeadersTooLarge);
    }
    switch (WaitFor(POLLIN, read_deadline_)) {
      case Wait::kReady:
        break;
      case Wait::kTimeout:
        return Fail(ReadFailure::kTimeout);
      case Wait::kError:
        return Fail(ReadFailure::kError);
    }
    const std::size_t wanted = std::min(buffer_.size(), read_budget_);
    ssize_t received;
    do {
      received = ::recv(fd_, buffer_.data(), wanted, 0);
    } while (received < 0 && errno == EINTR);
    if (received == 0) return Fail(ReadFailure::kClosed);
    if (received < 0) return Fail(ReadFailure::kError);
    read_budget_ -= static_cast<std::size_t>(received);
    buffer_begin_ = 0;
    buffer_end_ = static_cast<std::size_t>(received);
  }
  const std::size_t n = std::min(size, buffer_end_ - buffer_begin_);
  std::memcpy(ptr, buffer_.data() + buffer_begin_, n);
  buffer_begin_ += n;
  return static_cast<ssize_t>(n);
}

ssize_t Connection::write(const char* ptr, size_t size) {
  if (!write_deadline_) write_deadline_ = Clock::now() + limits_.write_timeout;
  if (WaitFor(POLLOUT, *write_deadline_) != Wait::kReady) return -1;
  ssize_t sent;
  do {
    sent = ::send(fd_, ptr, size, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  return sent < 0 ? -1 : sent;
}

void Connection::get_remote_ip_and_port(std::string& ip, int& port) const {
  ip = remote_ip_;
  port = remote_port_;
}

void Connection::get_local_ip_and_port(std::string& ip, int& port) const {
  ip = local_ip_;
  port = local_port_;
}

Connection* CurrentConnection() { return current_connection; }

ScopedCurrentConnection::ScopedCurrentConnection(Connection* connection)
    : previous_(current_connection) {
  current_connection = connection;
}

ScopedCurrentConnection::~ScopedCurrentConnection() { current_connection = previous_; }

}  // namespace quiver::server
