// Copyright (c) Quiver authors.

#include "server/transport.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
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

constexpr std::uint64_t kListenId = 0;
constexpr std::uint64_t kWakeId = 1;

// How often the housekeeping thread closes expired connections. Deadlines are
// kept to within this much.
constexpr std::chrono::milliseconds kHousekeepingInterval{100};

// A connection whose response ended it (413, malformed request) is drained
// for at most this long and this many bytes before it is closed, so that the
// kernel does not reset it (destroying the response) while the client still sends.
constexpr std::chrono::milliseconds kMaxDrainTime{5'000};

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

// The address of a peer as text ("" if it is neither IPv4 nor IPv6). An
// IPv4-mapped IPv6 address is given as IPv4, so one client has one address.
std::string PeerAddress(const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&address)->sin_addr, text,
              sizeof(text));
  } else if (address.ss_family == AF_INET6) {
    const in6_addr& v6 = reinterpret_cast<const sockaddr_in6*>(&address)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(&v6)) {
      inet_ntop(AF_INET, &v6.s6_addr[12], text, sizeof(text));
    } else {
      inet_ntop(AF_INET6, &v6, text, sizeof(text));
    }
  }
  return text;
}

void Arm(int epoll_fd, int fd, std::uint64_t id, std::uint32_t events, int operation) {
  epoll_event event{};
  event.events = events | EPOLLONESHOT;
  event.data.u64 = id;
  ::epoll_ctl(epoll_fd, operation, fd, &event);
}

}  // namespace

Result<std::unique_ptr<Transport>> Transport::Listen(RequestHandler* handler,
                                                     const TransportOptions& options) {
  Result<int> listen_fd = BindListener(options.host, options.port);
  if (!listen_fd.ok()) return listen_fd.status();
  const int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  const int wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (epoll_fd < 0 || wake_fd < 0) {
    const int error = errno;
    ::close(*listen_fd);
    if (epoll_fd >= 0) ::close(epoll_fd);
    if (wake_fd >= 0) ::close(wake_fd);
    return Status::IOError(fmt::format("epoll/eventfd: {}", ErrnoText(error)));
  }
  // The wake-up eventfd is level-triggered and never re-armed: once written,
  // every worker sees it and exits.
  epoll_event wake{};
  wake.events = EPOLLIN;
  wake.data.u64 = kWakeId;
  ::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, wake_fd, &wake);
  Arm(epoll_fd, *listen_fd, kListenId, EPOLLIN, EPOLL_CTL_ADD);
  return std::unique_ptr<Transport>(
      new Transport(handler, options, *listen_fd, epoll_fd, wake_fd, BoundPort(*listen_fd)));
}

Transport::Transport(RequestHandler* handler, const TransportOptions& options, int listen_fd,
                     int epoll_fd, int wake_fd, int port)
    : handler_(handler),
      options_(options),
      listen_fd_(listen_fd),
      epoll_fd_(epoll_fd),
      wake_fd_(wake_fd),
      port_(port) {}

Transport::~Transport() {
  Stop();
  ::close(wake_fd_);
  ::close(epoll_fd_);
}

void Transport::Start() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (started_) return;
  started_ = true;
  const int threads = std::max(1, options_.threads);
  for (int i = 0; i < threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
  housekeeping_thread_ = std::thread([this] { HousekeepingLoop(); });
}

void Transport::Stop() {
  std::call_once(stop_once_, [this] {
    stopping_ = true;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      listening_ = false;
      ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
      if (!started_) {
        ::close(listen_fd_);
        return;
      }
      // Close what is not in the middle of a request; the rest closes itself
      // once served (Release) or sent (or at its write deadline).
      std::vector<std::uint64_t> idle;
      for (const auto& [id, entry] : entries_) {
        if (!entry.busy && entry.phase != Phase::kWriting) idle.push_back(id);
      }
      for (const std::uint64_t id : idle) CloseLocked(id);
      closed_.wait(lock, [this] { return entries_.empty(); });
    }
    housekeeping_.notify_all();  // it exits on stopping_ and no entries
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t written = ::write(wake_fd_, &one, sizeof(one));
    for (std::thread& worker : workers_) worker.join();
    housekeeping_thread_.join();
    ::close(listen_fd_);
  });
}

void Transport::WorkerLoop() {
  for (;;) {
    epoll_event event{};
    const int ready = ::epoll_wait(epoll_fd_, &event, 1, -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      Log(options_.logger, LogLevel::kError, "epoll_wait failed: {}", ErrnoText(errno));
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    if (ready == 0) continue;
    const std::uint64_t id = event.data.u64;
    if (id == kWakeId) return;
    if (id == kListenId) {
      AcceptConnections();
      continue;
    }
    Entry* entry = nullptr;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = entries_.find(id);
      if (it == entries_.end() || it->second.busy) continue;  // closed meanwhile
      it->second.busy = true;
      entry = &it->second;  // stable: only the thread holding it busy erases it
    }
    HandleEvent(id, entry, event.events);
  }
}

void Transport::AcceptConnections() {
  for (;;) {
    if (open_connections_.load() >= options_.max_connections) {
      std::lock_guard<std::mutex> lock(mutex_);
      listen_armed_ = false;  // the housekeeping thread re-arms it below the limit
      return;
    }
    sockaddr_storage address{};
    socklen_t length = sizeof(address);
    const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length,
                             SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE) {
        Log(options_.logger, LogLevel::kWarn, "accept: {}; retrying shortly", ErrnoText(errno));
        std::lock_guard<std::mutex> lock(mutex_);
        listen_armed_ = false;
        return;
      }
      break;  // EAGAIN: no more pending connections
    }
    // Responses are sent in one piece, but a 100 Continue precedes some bodies.
    const int on = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    std::string peer = PeerAddress(address);
    bool refused = false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!listening_) {
        ::close(fd);
        return;
      }
      int& count = per_address_[peer];
      if (count >= options_.max_connections_per_address) {
        refused = true;
      } else {
        ++count;
        const std::uint64_t id = next_id_++;
        Entry& entry = entries_[id];
        entry.connection = std::make_unique<Connection>(fd, options_.limits, peer);
        entry.address = std::move(peer);
        // A new connection must send its first request within the keep-alive timeout.
        entry.deadline = Clock::now() + options_.keep_alive_timeout;
        open_connections_.fetch_add(1);
        Arm(epoll_fd_, fd, id, EPOLLIN, EPOLL_CTL_ADD);
      }
    }
    if (refused) {
      ::close(fd);
      handler_->CountTransportEvent(TransportEvent::kRefusedPerAddress);
    }
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (listening_) Arm(epoll_fd_, listen_fd_, kListenId, EPOLLIN, EPOLL_CTL_MOD);
}

void Transport::HandleEvent(std::uint64_t id, Entry* entry, std::uint32_t events) {
  Connection& connection = *entry->connection;
  switch (entry->phase) {
    case Phase::kWriting: {
      bool failed = false;
      if (connection.Flush(&failed)) {
        AfterResponse(entry);
      } else if (failed || (events & (EPOLLERR | EPOLLHUP)) != 0) {
        entry->after_write = AfterWrite::kClose;
        entry->phase = Phase::kDraining;
        Release(id, /*close=*/true);
        return;
      }
      break;
    }
    case Phase::kDraining:
      if (!connection.DiscardAvailable(4 * options_.limits.max_body_bytes)) {
        Release(id, /*close=*/true);
        return;
      }
      break;
    default:
      ReadAndServe(entry);
      break;
  }
  Release(id, /*close=*/false);
}

void Transport::SetReadPhase(Entry* entry, Framing framing) {
  const Clock::time_point now = Clock::now();
  if (framing == Framing::kEmpty && entry->phase != Phase::kIdle) {
    entry->phase = Phase::kIdle;
    entry->deadline = now + options_.keep_alive_timeout;
  } else if (framing == Framing::kPartialHead && entry->phase != Phase::kHead) {
    entry->phase = Phase::kHead;
    entry->deadline = now + options_.limits.header_timeout;
  } else if (framing == Framing::kPartialBody && entry->phase != Phase::kBody) {
    entry->phase = Phase::kBody;
    entry->deadline = now + options_.limits.read_timeout;
  }
}

void Transport::ReadAndServe(Entry* entry) {
  Connection& connection = *entry->connection;
  bool peer_closed = false;
  Framing framing = connection.ReadAvailable(&peer_closed);
  for (;;) {
    switch (framing) {
      case Framing::kComplete:
        break;
      case Framing::kUriTooLong:
        return AnswerAndClose(entry, TransportEvent::kUriTooLong);
      case Framing::kHeadersTooLarge:
        return AnswerAndClose(entry, TransportEvent::kHeadersTooLarge);
      case Framing::kBadFraming:
        return AnswerAndClose(entry, TransportEvent::kBadFraming);
      default:  // more to come
        if (peer_closed) {
          entry->phase = Phase::kDraining;
          entry->after_write = AfterWrite::kClose;
          entry->deadline = Clock::now();  // closed by Release
          return;
        }
        return SetReadPhase(entry, framing);
    }
    const bool last =
        stopping_.load() || connection.requests_started() + 1 >= options_.keep_alive_max_requests;
    connection.BeginRequest(options_.request_timeout);
    const bool keep = handler_->ServeRequest(connection, last) && !last;
    const ReadFailure failure = connection.read_failure();
    // A refused body (413) or a malformed request may leave unread bytes.
    const bool drain = failure == ReadFailure::kTooLarge ||
                       (failure == ReadFailure::kNone && connection.close_after_response());
    entry->after_write = keep    ? AfterWrite::kContinue
                         : drain ? AfterWrite::kDrain
                                 : AfterWrite::kClose;
    bool failed = false;
    if (!connection.Flush(&failed)) {
      if (failed) {
        entry->after_write = AfterWrite::kClose;
        entry->phase = Phase::kDraining;
        entry->deadline = Clock::now();
        return;
      }
      entry->phase = Phase::kWriting;
      entry->deadline = Clock::now() + options_.limits.write_timeout;
      return;
    }
    if (entry->after_write != AfterWrite::kContinue) return AfterResponse(entry);
    entry->phase = Phase::kIdle;
    entry->deadline = Clock::now() + options_.keep_alive_timeout;
    framing = connection.ScanBuffered();
    if (peer_closed && framing != Framing::kComplete) framing = Framing::kEmpty;
  }
}

void Transport::AfterResponse(Entry* entry) {
  switch (entry->after_write) {
    case AfterWrite::kContinue:
      entry->phase = Phase::kIdle;
      entry->deadline = Clock::now() + options_.keep_alive_timeout;
      return ReadAndServe(entry);  // pipelined requests may be buffered already
    case AfterWrite::kClose:
      entry->phase = Phase::kDraining;
      entry->deadline = Clock::now();  // closed by Release
      return;
    case AfterWrite::kDrain:
      entry->connection->ShutdownWrite();
      entry->phase = Phase::kDraining;
      entry->deadline = Clock::now() + std::min<std::chrono::milliseconds>(
                                           options_.limits.read_timeout, kMaxDrainTime);
      return;
  }
}

void Transport::AnswerAndClose(Entry* entry, TransportEvent event) {
  entry->connection->QueueOutput(handler_->TransportErrorResponse(event));
  entry->after_write = AfterWrite::kDrain;
  bool failed = false;
  if (entry->connection->Flush(&failed)) return AfterResponse(entry);
  entry->phase = Phase::kWriting;
  entry->deadline = Clock::now() + options_.limits.write_timeout;
  if (failed) entry->deadline = Clock::now();
}

void Transport::Release(std::uint64_t id, bool close) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  Entry& entry = it->second;
  const bool finished = entry.phase == Phase::kDraining && entry.deadline <= Clock::now();
  const bool shutting_down = stopping_.load() && entry.phase != Phase::kWriting;
  if (close || finished || shutting_down) {
    CloseLocked(id);
    return;
  }
  entry.busy = false;
  Arm(epoll_fd_, entry.connection->socket_fd(), id,
      entry.phase == Phase::kWriting ? EPOLLOUT : EPOLLIN, EPOLL_CTL_MOD);
}

void Transport::CloseLocked(std::uint64_t id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, it->second.connection->socket_fd(), nullptr);
  auto count = per_address_.find(it->second.address);
  if (count != per_address_.end() && --count->second <= 0) per_address_.erase(count);
  entries_.erase(it);  // closes the socket
  open_connections_.fetch_sub(1);
  if (stopping_.load()) closed_.notify_all();
}

void Transport::HousekeepingLoop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!(stopping_.load() && entries_.empty())) {
    housekeeping_.wait_for(lock, kHousekeepingInterval);
    const Clock::time_point now = Clock::now();
    std::vector<std::uint64_t> expired;
    for (auto& [id, entry] : entries_) {
      if (entry.busy) continue;
      const bool stop_idle = stopping_.load() && entry.phase != Phase::kWriting;
      if (entry.deadline > now && !stop_idle) continue;
      expired.push_back(id);
      if (stop_idle) continue;
      // A request that did not arrive in time gets a 408 (best effort: one
      // non-blocking send), a response not taken in time is abandoned.
      if (entry.phase == Phase::kHead || entry.phase == Phase::kBody) {
        entry.connection->QueueOutput(handler_->TransportErrorResponse(
            entry.phase == Phase::kHead ? TransportEvent::kHeaderTimeout
                                        : TransportEvent::kBodyTimeout));
        bool failed = false;
        entry.connection->Flush(&failed);
      } else if (entry.phase == Phase::kWriting) {
        handler_->CountTransportEvent(TransportEvent::kWriteTimeout);
      }
    }
    for (const std::uint64_t id : expired) CloseLocked(id);
    if (listening_ && !listen_armed_ && open_connections_.load() < options_.max_connections) {
      listen_armed_ = true;
      Arm(epoll_fd_, listen_fd_, kListenId, EPOLLIN, EPOLL_CTL_MOD);
    }
  }
}

}  // namespace quiver::server
