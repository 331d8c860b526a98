// Copyright (c) Quiver authors.
//
// The HTTP face of Quiver: `quiver serve`. Uses only include/quiver.
//
// Two ways in:
//   RunServer(options)     what `quiver serve` calls: serves until SIGINT or
//                          SIGTERM, then shuts down gracefully.
//   Server::Start(options) runs a server inside the calling process (tests,
//                          embedding); Stop() shuts it down the same way.
//
// The routes, their request and response shapes and their errors are
// documented in docs/http-api.md and described by server/openapi.json.

#ifndef QUIVER_SERVER_SERVER_H_
#define QUIVER_SERVER_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "quiver/embedders.h"
#include "quiver/options.h"
#include "quiver/status.h"

namespace quiver::server {

/// Settings of `quiver serve`; the CLI fills them from flags and QUIVER_* variables.
struct ServerOptions {
  std::string data_dir;                    // QUIVER_DATA; required
  std::string host = "127.0.0.1";          // QUIVER_HOST; loopback by default
  int port = 8083;                         // QUIVER_PORT; 0 = pick a free port (see Server::port)
  std::string api_key;                     // QUIVER_API_KEY; empty = no auth
  int threads = 0;                         // worker threads; 0 = hardware threads (at least 2)
  std::size_t max_body_bytes = 64u << 20;  // larger bodies get 413
  /// The whole request body must arrive within this many seconds after its
  /// headers, and no single read may stall longer; otherwise the connection is
  /// answered 408 and closed. Bounds how long a slow client holds a worker.
  int read_timeout_s = 30;
  /// Writing one response may take at most this long; then the connection is closed.
  int write_timeout_s = 30;
  /// The request line and all headers must arrive within this many seconds of
  /// the request's first byte (else 408 and close): a client trickling header
  /// bytes ("slowloris") cannot hold a worker.
  int header_timeout_s = 10;
  /// An idle keep-alive connection is closed after this many seconds. Idle
  /// connections wait in the poller, not on a worker thread.
  int keep_alive_timeout_s = 5;
  /// Requests served on one connection before it is closed (then the client reconnects).
  int keep_alive_max_requests = 1000;
  /// Connections open at once; more wait in the kernel's accept queue. The
  /// server raises its open-files limit to fit (warns if it cannot).
  int max_connections = 4096;
  /// Connections open at once from one client address; more are closed as
  /// soon as they are accepted. Behind a proxy every client has its address:
  /// raise it there.
  int max_connections_per_address = 256;
  /// Seconds one request may be served; a search stops (503 busy) between
  /// chunks of queries past it. See server/budget.h.
  int request_timeout_s = 30;
  /// Work units (queries x max(k, expansion_search)) one search request may
  /// ask for; more get 400 before any work (10M: e.g. 100,000 queries at
  /// ef=100, or 1,000 at ef=10,000).
  std::size_t max_search_work = 10'000'000;
  /// Largest response body in bytes; a larger one gets 400. Search stops
  /// early once its results pass it, so memory stays near it.
  std::size_t max_response_bytes = 64u << 20;
  /// Largest text of one record, in bytes, accepted by a write (400 beyond).
  std::size_t max_text_bytes = 1u << 20;
  /// Largest metadata of one record (serialized JSON), in bytes, accepted by a write.
  std::size_t max_metadata_bytes = 64u << 10;
  /// Directory holding swagger-ui-dist's swagger-ui-bundle.js and swagger-ui.css,
  /// served under /docs. Empty = $QUIVER_SWAGGER_UI_DIR if set, else the
  /// third_party/swagger-ui directory the build was configured with.
  std::string swagger_ui_dir;
  /// Where local embedding models are found (POST /v1/embeddings and the
  /// collections created with an embedder). When store.embedder_resolver is
  /// empty, the server sets it to embed::MakeResolver(embedders).
  embed::ResolverOptions embedders;
  /// Store settings (durability, checkpoint policy). `logger` is replaced by
  /// the server's own logger when left empty.
  StoreOptions store;
  /// Where log lines go (the server's and the store's); empty = standard
  /// error, kInfo and above, one timestamped line each. Request lines are kDebug.
  Logger logger;
};

/// A server running inside this process: its own threads accept connections
/// and serve requests until Stop(). Thread safety: port(), routes() and Stop()
/// may be called from any thread; Stop() is idempotent.
class Server {
 public:
  /// Binds `options.host:options.port` (so a taken port fails before any
  /// recovery), opens the store (Store::Open: recovery included; connections
  /// wait in the accept queue meanwhile), then starts the worker threads, logs
  /// "listening" and returns once requests are served: a store that cannot be
  /// opened (LOCK held, read-only filesystem) fails before the server ever says
  /// it listens. Warns when a non-loopback address is bound without an API key.
  /// Errors: InvalidArgument (bad options, e.g. empty data_dir or an
  /// unresolvable host), IOError (the address cannot be bound), and any error
  /// of Store::Open (Busy if another process holds the store).
  static Result<std::unique_ptr<Server>> Start(const ServerOptions& options);

  /// Stops the server (see Stop) and logs a failure to close the store.
  ~Server();

  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// The port the server listens on (the chosen one when options.port was 0).
  int port() const;

  /// Graceful shutdown: stops accepting connections, closes idle ones,
  /// finishes the requests in flight (their responses carry
  /// "Connection: close"), then closes the store, which checkpoints. Returns
  /// the status of Store::Close; later calls return OK and do nothing.
  Status Stop();

  /// Every route served, as (method, path template), e.g. ("POST",
  /// "/v2/collections/{name}/query"). Used to check server/openapi.json.
  std::vector<std::pair<std::string, std::string>> routes() const;

 private:
  struct Impl;
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// True if every address `host` resolves to is a loopback address
/// (127.0.0.0/8 or ::1); false for a wildcard ("0.0.0.0", "::") or any other
/// address, and for a host that does not resolve. `serve` warns when it binds
/// a non-loopback host without an API key.
bool IsLoopbackHost(const std::string& host);

/// Opens the store, serves until SIGINT/SIGTERM, then stops accepting, finishes
/// requests in flight, checkpoints, closes the store. Returns the process exit
/// code (0 on a clean shutdown, 1 if the server could not start or the store
/// failed to close cleanly). Logs to standard error (or options.logger).
/// Blocks SIGINT and SIGTERM in the calling thread while it runs (and so in
/// every thread it starts) and waits for them with sigwait; call it from the
/// main thread before starting other threads.
int RunServer(const ServerOptions& options);

}  // namespace quiver::server

#endif  // QUIVER_SERVER_SERVER_H_
