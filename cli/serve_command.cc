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
  // Limits and budgets: docs/http-api.md, "Limits and budgets". Hits are
  // counted in /metrics (quiver_http_budget_exceeded_total, _transport_events_total).
  command
      ->add_option("--max-connections", options->max_connections,
                   "Client connections open at once; more wait in the accept queue")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command
      ->add_option("--max-connections-per-address", options->max_connections_per_address,
                   "Connections open at once from one client address; more are closed on "
                   "accept (raise it behind a proxy)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command
      ->add_option("--header-timeout", options->header_timeout_s,
                   "Seconds from a request's first byte to the end of its headers (else 408)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command
      ->add_option("--read-timeout", options->read_timeout_s,
                   "Seconds for a request body to arrive after its headers (else 408)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command
      ->add_option("--write-timeout", options->write_timeout_s,
                   "Seconds for a client to take its response (else the connection is closed)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command
      ->add_option("--keep-alive-timeout", options->keep_alive_timeout_s,
                   "Seconds an idle keep-alive connection stays open")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command
      ->add_option("--request-timeout", options->request_timeout_s,
                   "Seconds one request may be served; a search past it stops with 503")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command
      ->add_option("--max-search-work", options->max_search_work,
                   "Queries x max(k, expansion_search) one search request may ask for (else 400)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command
      ->add_option("--max-response-bytes", options->max_response_bytes,
                   "Largest response body in bytes (else 400; searches stop early)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command
      ->add_option("--max-text-bytes", options->max_text_bytes,
                   "Largest text of one record a write accepts, in bytes (else 400)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command
      ->add_option("--max-metadata-bytes", options->max_metadata_bytes,
                   "Largest metadata (JSON) of one record a write accepts, in bytes (else 400)")
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
