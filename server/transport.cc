// Copyright (c) Quiver authors.

#include "server/transport.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "server/log.h"

namespace quiver::server {
namespace {

// The poller wakes at least this often, whatever the idle deadlines.
constexpr int kMaxPollIntervalMs = 1000;

std::string ErrnoText(int error) { return std::strerror(error); }

// Creates a listening, non-blocking socket bound to the first address of
// host:port that accepts it.
Result<int> BindListener(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* addresses = nullptr;
  const std::string service = std::to_string(port);
  if (const int error = getaddrinfo(host.c_str(), service.c_str(), &hints, &addresses);
      error != 0) {
    return Status::InvalidArgument(
        fmt::format("cannot resolve host '{}': {}", host, gai_strerror(error)));
  }
  std::string last_error = "no address";
  int fd = -1;
  for (addrinfo* address = addresses; address != nullptr; address = address->ai_next) {
    fd = ::socket(address->ai_family, address->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                  address->ai_protocol);
    if (fd < 0) {
      last_error = ErrnoText(errno);
      continue;
    }
    const int on = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (::bind(fd, address->ai_addr, address->ai_addrlen) == 0 && ::listen(fd, SOMAXCONN) == 0) {
      break;
    }
    last_error = ErrnoText(errno);
    ::close(fd);
    fd = -1;
  }
  freeaddrinfo(addresses);
  if (fd < 0) {
    return Status::IOError(fmt::format("cannot listen on {}:{}: {}", host, port, last_error));
  }
  return fd;
}

// The port a bound socket listens on.
int BoundPort(int fd) {
  sockaddr_storage address{};
  socklen_t length = sizeof(address);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) return -1;
  if (address.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&address)->sin_port);
  }
  if (address.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&address)->sin6_port);
  }
  return -1;
}

}  // namespace

Result<std::unique_ptr<Transport>> Transport::Listen(RequestHandler* handler,
                                                     const TransportOptions& options) {
  Result<int> listen_fd = BindListener(options.host, options.port);
  if (!listen_fd.ok()) return listen_fd.status();
  const int wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd < 0) {
    const int error = errno;
    ::close(*listen_fd);
    return Status::IOError(fmt::format("eventfd: {}", ErrnoText(error)));
  }
  return std::unique_ptr<Transport>(
      new Transport(handler, options, *listen_fd, wake_fd, BoundPort(*listen_fd)));
}

Transport::Transport(RequestHandler* handler, const TransportOptions& options, int listen_fd,
                     int wake_fd, int port)
    : handler_(handler), options_(options), listen_fd_(listen_fd), wake_fd_(wake_fd), port_(port) {}

Transport::~Transport() {
  Stop();
  ::close(wake_fd_);
}

void Transport::Start() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (started_) return;
  started_ = true;
  poller_ = std::thread([this] { PollLoop(); });
  const int threads = std::max(1, options_.threads);
  for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

void Transport::Stop() {
  std::call_once(stop_once_, [this] {
    stopping_ = true;
    bool started;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      started = started_;
    }
    if (!started) {
      ::close(listen_fd_);
      return;
    }
    Wake();
    poller_.join();  // closes the listening socket and the idle connections
    {
      std::lock_guard<std::mutex> lock(mutex_);
      workers_exit_ = true;
    }
    work_available_.notify_all();
    for (std::thread& worker : workers_) worker.join();
  });
}

void Transport::Wake() {
  const std::uint64_t one = 1;
  // A full counter (EAGAIN) means a wake-up is pending anyway.
  [[maybe_unused]] const ssize_t written = ::write(wake_fd_, &one, sizeof(one));
}

void Transport::PollLoop() {
  std::vector<IdleConnection> idle;
  std::vector<pollfd> descriptors;
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopping_) {
        poller_exited_ = true;
        returned_.clear();  // closes them
        break;
      }
      const Clock::time_point deadline = Clock::now() + options_.keep_alive_timeout;
      for (std::unique_ptr<Connection>& connection : returned_) {
        idle.push_back({std::move(connection), deadline});
      }
      returned_.clear();
    }

    // Watch the wake-up eventfd, the listening socket (unless at the
    // connection limit) and every idle connection; wake for the next deadline.
    const bool accepting = open_connections_.load() < options_.max_connections;
    descriptors.clear();
    descriptors.push_back({wake_fd_, POLLIN, 0});
    descriptors.push_back({listen_fd_, static_cast<short>(accepting ? POLLIN : 0), 0});
    int timeout_ms = kMaxPollIntervalMs;
    const Clock::time_point now = Clock::now();
    for (const IdleConnection& waiting : idle) {
      descriptors.push_back({waiting.connection->socket(), POLLIN, 0});
      const auto until =
          std::chrono::duration_cast<std::chrono::milliseconds>(waiting.deadline - now).count();
      timeout_ms = static_cast<int>(std::clamp<long long>(until + 1, 0, timeout_ms));
    }
    if (::poll(descriptors.data(), descriptors.size(), timeout_ms) < 0 && errno != EINTR) {
      Log(options_.logger, LogLevel::kError, "poll failed: {}", ErrnoText(errno));
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    if (descriptors[0].revents != 0) {
      std::uint64_t count;
      [[maybe_unused]] const ssize_t read = ::read(wake_fd_, &count, sizeof(count));
    }

    // Readable idle connections go to the workers; expired ones are closed.
    // (descriptors[i + 2] is idle[i].)
    const Clock::time_point after_poll = Clock::now();
    std::vector<std::unique_ptr<Connection>> readable;
    for (std::size_t i = 0; i < idle.size(); ++i) {
      if (descriptors[i + 2].revents != 0) {
        readable.push_back(std::move(idle[i].connection));
      } else if (idle[i].deadline <= after_poll) {
        idle[i].connection.reset();
      }
    }
    std::erase_if(idle,
                  [](const IdleConnection& waiting) { return waiting.connection == nullptr; });
    if (descriptors[1].revents != 0) AcceptConnections(&idle);
    if (!readable.empty()) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        for (std::unique_ptr<Connection>& connection : readable) {
          ready_.push_back(std::move(connection));
        }
      }
      work_available_.notify_all();
    }
  }
  ::close(listen_fd_);
  idle.clear();
}

void Transport::AcceptConnections(std::vector<IdleConnection>* idle) {
  while (open_connections_.load() < options_.max_connections) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE) {
        Log(options_.logger, LogLevel::kWarn, "accept: {}; retrying shortly", ErrnoText(errno));
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      return;  // EAGAIN: no more pending connections (the socket is non-blocking)
    }
    // Responses are written as headers then body: without TCP_NODELAY, Nagle's
    // algorithm would hold the body back until the client ACKs the headers.
    const int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    open_connections_.fetch_add(1);
    // A new connection must send its first request within the keep-alive timeout.
    idle->push_back({std::make_unique<Connection>(fd, options_.limits, &open_connections_),
                     Clock::now() + options_.keep_alive_timeout});
  }
}

void Transport::WorkerLoop() {
  for (;;) {
    std::unique_ptr<Connection> connection;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      work_available_.wait(lock, [this] { return !ready_.empty() || workers_exit_; });
      if (ready_.empty()) return;  // workers_exit_ and nothing left to serve
      connection = std::move(ready_.front());
      ready_.pop_front();
    }
    Serve(std::move(connection));
  }
}

void Transport::Serve(std::unique_ptr<Connection> connection) {
  // Serve requests while their bytes are already here (pipelining), then
  // give the connection back to the poller to wait for the next one.
  do {
    const bool last =
        stopping_.load() || connection->requests_started() + 1 >= options_.keep_alive_max_requests;
    connection->BeginRequest();
    if (!handler_->ServeRequest(*connection, last) || last) {
      // A refused body (413) or a malformed request may leave unread bytes;
      // a client that merely timed out gets no more time.
      const ReadFailure failure = connection->read_failure();
      if (failure == ReadFailure::kTooLarge ||
          (failure == ReadFailure::kNone && connection->close_after_response())) {
        connection->DiscardInputBeforeClose();
      }
      return;  // closes it
    }
  } while (connection->has_buffered_input());

  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (poller_exited_) return;  // shutting down: close it
    returned_.push_back(std::move(connection));
  }
  Wake();
}

}  // namespace quiver::server
