// Copyright (c) Quiver authors.
//
// `quiver serve`: the HTTP API (server/), built only when the server is.

#ifdef QUIVER_HAVE_SERVER

#include <memory>
#include <string>

#include "cli/command.h"
#include "server/server.h"

namespace quiver::cli {

Command AddServeCommand(CLI::App& app, const GlobalOptions& global) {
  CLI::App* command = AddSubcommand(
      app, "serve", "Serve the HTTP API.",
      "Serves until SIGINT or SIGTERM, then finishes the requests in flight, checkpoints and\n"
      "closes the store. Holds the store's write lock: other writers fail with 'busy', while\n"
      "search, get, list, stats and verify keep working beside it.");
  auto options = std::make_shared<server::ServerOptions>();
  AddDataOption(command, &options->data_dir);
  command->add_option("--host", options->host, "Address to listen on (0.0.0.0 = every interface)")
      ->envname("QUIVER_HOST")
      ->capture_default_str();
  command->add_option("--port", options->port, "TCP port (0 = pick a free one)")
      ->envname("QUIVER_PORT")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  command
      ->add_option("--api-key", options->api_key,
                   "Require this key in every request (default: no authentication). Prefer "
                   "$QUIVER_API_KEY: other users can read command lines")
      ->envname("QUIVER_API_KEY");
  command
      ->add_option("--threads", options->threads,
                   "Worker threads (0 = one per hardware thread, at least 2)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  command->add_flag("--read-only", options->store.read_only,
                    "Serve searches and reads only: take no write lock (so it runs beside a "
                    "writer), map current checkpoints instead of copying them, and answer every "
                    "write with 501 not_supported. Sees the data as of its start");
  command
      ->add_option("--max-body-bytes", options->max_body_bytes,
                   "Largest request body in bytes; larger ones get HTTP 413")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  return {command, [options] {
            Status has_dir = CheckDataDir(options->data_dir);
            if (!has_dir.ok()) return ReportError(has_dir);
            return server::RunServer(*options);
          }};
}

}  // namespace quiver::cli

#endif  // QUIVER_HAVE_SERVER
