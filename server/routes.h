// Copyright (c) Quiver authors.
//
// The route tables. Each is a list of Route values (method, path template,
// policy, handler); server/openapi.json describes exactly these routes, and
// docs/http-api.md documents them.

#ifndef QUIVER_SERVER_ROUTES_H_
#define QUIVER_SERVER_ROUTES_H_

#include <initializer_list>
#include <vector>

#include "server/router.h"
#include "server/service.h"

namespace quiver::server {

/// A handler that needs the service.
using ServiceHandler = Result<Reply> (*)(Service& service, const httplib::Request& request);

/// One row of a route table; see Route for the meaning of the fields.
struct RouteSpec {
  const char* method;
  const char* path;
  ServiceHandler handler;
  bool json_body = false;
  bool needs_store = true;
  Access access = Access::kApiKey;
};

/// Routes for `specs`, their handlers bound to `service` (which must outlive them).
std::vector<Route> BindRoutes(Service& service, ErrorStyle error_style,
                              std::initializer_list<RouteSpec> specs);

/// /v1: memista-compatible (insert, search, drop), memista's error shape.
std::vector<Route> MemistaRoutes(Service& service);

/// /v2: the native API (collections, records, query, checkpoint, stats).
std::vector<Route> NativeRoutes(Service& service);

/// POST /v1/embeddings: OpenAI's embeddings API over the server's local models.
std::vector<Route> EmbeddingRoutes(Service& service);

/// /api/v2: Chroma's REST API as its JS client chromadb@3.0.14 calls it (docs/chroma.md).
std::vector<Route> ChromaRoutes(Service& service);

/// /healthz, /readyz, /metrics, /openapi.json, /docs.
std::vector<Route> OperationsRoutes(Service& service);

/// All of the above. `service` must outlive the routes.
std::vector<Route> AllRoutes(Service& service);

}  // namespace quiver::server

#endif  // QUIVER_SERVER_ROUTES_H_
