// Copyright (c) Quiver authors.
//
// The HTTP face of Quiver: `quiver serve`. Uses only include/quiver.

#ifndef QUIVER_SERVER_SERVER_H_
#define QUIVER_SERVER_SERVER_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace quiver::server {

/// Settings of `quiver serve`; the CLI fills them from flags and QUIVER_* variables.
struct ServerOptions {
  std::string data_dir;            // QUIVER_DATA; required
  std::string host = "127.0.0.1";  // QUIVER_HOST; loopback by default
  int port = 8083;                 // QUIVER_PORT; 0 = pick a free port
  std::string api_key;             // QUIVER_API_KEY; empty = no auth
  int threads = 0;                 // worker threads; 0 = hardware threads (at least 2)
  std::size_t max_body_bytes = 64u << 20;  // larger bodies get 413
  int read_timeout_s = 30;
  int write_timeout_s = 30;
};

/// Opens the store, serves until SIGINT/SIGTERM, then stops accepting, finishes
/// requests in flight, checkpoints, closes the store. Returns the process exit
/// code (0 on a clean shutdown). Logs to standard error.
int RunServer(const ServerOptions& options);

}  // namespace quiver::server

#endif  // QUIVER_SERVER_SERVER_H_
