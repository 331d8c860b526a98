// Copyright (c) Quiver authors.
//
// The connection layer: a listening socket, one poller thread and a pool of
// worker threads.
//
//   poller   accepts connections and watches idle ones (new, or between
//            keep-alive requests) with poll(2); a connection that becomes
//            readable is queued for the workers; one idle longer than
//            keep_alive_timeout is closed. Idle connections cost no worker.
//   workers  (`threads` of them) take a readable connection, serve its
//            request (and any pipelined ones already received), then hand it
//            back to the poller, or close it.
//
// Stop() is graceful: the poller stops accepting and closes idle
// connections; workers finish every request already received, answering with
// "Connection: close", and exit.

#ifndef QUIVER_SERVER_TRANSPORT_H_
#define QUIVER_SERVER_TRANSPORT_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "quiver/options.h"
#include "quiver/status.h"
#include "server/connection.h"

namespace quiver::server {

/// Serves one request of a connection (implemented by Router, with httplib).
class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  /// Reads one request from `connection` and writes its response. With
  /// `close_connection`, the response says "Connection: close". Returns true
  /// iff the connection may serve another request (false: the peer closed it,
  /// the request was malformed or timed out, or either side asked to close).
  virtual bool ServeRequest(Connection& connection, bool close_connection) = 0;
};

struct TransportOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0 = any free port
  int threads = 2;
  ConnectionLimits limits;
  std::chrono::milliseconds keep_alive_timeout{5'000};
  int keep_alive_max_requests = 1000;
  /// Connections open at once; more wait in the kernel's accept queue.
  /// Kept below FD_SETSIZE (1024): httplib answers 500 for larger descriptors.
  int max_connections = 512;
  Logger logger;
};

class Transport {
 public:
  /// Binds and listens on options.host:options.port (SO_REUSEADDR). Threads
  /// start with Start(). `handler` is not owned and must outlive the transport.
  /// InvalidArgument for an unresolvable host; IOError if no address binds.
  static Result<std::unique_ptr<Transport>> Listen(RequestHandler* handler,
                                                   const TransportOptions& options);
  /// Stop()s.
  ~Transport();

  /// The bound port.
  int port() const { return port_; }
  /// Starts the poller and the workers. Call once.
  void Start();
  /// Graceful stop (see the file comment); returns when every thread has
  /// exited. Idempotent.
  void Stop();

 private:
  Transport(RequestHandler* handler, const TransportOptions& options, int listen_fd, int wake_fd,
            int port);

  // A connection waiting in the poller, closed at `deadline` unless readable.
  struct IdleConnection {
    std::unique_ptr<Connection> connection;
    Clock::time_point deadline;
  };

  void PollLoop();
  void AcceptConnections(std::vector<IdleConnection>* idle);
  void WorkerLoop();
  void Serve(std::unique_ptr<Connection> connection);
  void Wake();

  RequestHandler* const handler_;
  const TransportOptions options_;
  const int listen_fd_;  // closed by the poller when it exits
  const int wake_fd_;    // eventfd: wakes the poller
  const int port_;

  std::atomic<bool> stopping_{false};
  std::atomic<int> open_connections_{0};

  std::mutex mutex_;
  std::condition_variable work_available_;
  std::deque<std::unique_ptr<Connection>> ready_;      // guarded: readable, for the workers
  std::vector<std::unique_ptr<Connection>> returned_;  // guarded: idle again, for the poller
  bool poller_exited_ = false;                         // guarded
  bool workers_exit_ = false;                          // guarded: exit once ready_ is empty
  bool started_ = false;                               // guarded
  std::once_flag stop_once_;

  std::thread poller_;
  std::vector<std::thread> workers_;
};

}  // namespace quiver::server

#endif  // QUIVER_SERVER_TRANSPORT_H_
