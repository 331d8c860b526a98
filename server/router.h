// Copyright (c) Quiver authors.
//
// Routes and the policy every request goes through. httplib parses requests
// (from a Connection); the router matches paths by segment (one catch-all
// httplib handler per method) and wraps every handler with the same steps,
// in this order:
//
//   1. authentication   routes with Access::kApiKey need "Authorization:
//                       Bearer <key>" when an API key is set        -> 401
//   2. media type       routes with a JSON body need
//                       "Content-Type: application/json"           -> 415
//   3. body size        a body above max_body_bytes                 -> 413
//   4. store            routes that need the store while it is
//                       opening or closed                           -> 503
//   5. the handler      Result<Reply>: an error Status becomes
//                       StatusToHttp + the route's error style
//   6. metrics and the access log (kDebug)
//
// Requests that match no route get 401 (when the key is missing: routes are
// not revealed to strangers), 405 with "Allow" (the path exists with other
// methods) or 404; framing failures get 400, 408 or 413. All are JSON.

#ifndef QUIVER_SERVER_ROUTER_H_
#define QUIVER_SERVER_ROUTER_H_

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <httplib.h>

#include "quiver/options.h"
#include "quiver/status.h"
#include "server/connection.h"
#include "server/http_errors.h"
#include "server/json_out.h"
#include "server/metrics.h"
#include "server/transport.h"

namespace quiver::server {

/// A successful response.
struct Reply {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;

  /// A JSON response.
  static Reply Json(const JsonOut& value, int status = 200);
};

using Handler = std::function<Result<Reply>(const httplib::Request& request)>;

enum class Access {
  kPublic,  // no API key needed (only /healthz)
  kApiKey,  // needs the API key when one is set
};

struct Route {
  /// "GET" (also answers HEAD), "POST", "PUT" or "DELETE".
  std::string method;
  /// OpenAPI path template; each {parameter} matches one non-empty path
  /// segment, available to the handler as PathParameter(request, i).
  std::string path;
  ErrorStyle error_style = ErrorStyle::kNative;
  Access access = Access::kApiKey;
  /// The body must be JSON (Content-Type checked).
  bool json_body = false;
  /// Needs the open store (503 while it opens or after it closed).
  bool needs_store = true;
  Handler handler;
};

/// The i-th (1-based) {parameter} of the matched route's path, "" if there is
/// none. Valid on the thread serving `request`, while its handler runs.
std::string PathParameter(const httplib::Request& request, std::size_t index);

struct RouterOptions {
  std::string api_key;  // empty = no authentication
  std::size_t max_body_bytes = 64u << 20;
  /// A response body above this many bytes is replaced by a 400 that names
  /// the limit (counted as budget limit "response_bytes").
  std::size_t max_response_bytes = 64u << 20;
  /// Announced in the "Keep-Alive: timeout=T, max=M" response header.
  int keep_alive_timeout_s = 5;
  int keep_alive_max_requests = 1000;
  /// True while the store is open; routes with needs_store get 503 otherwise.
  std::function<bool()> store_open;
  Logger logger;
};

/// Thread safety: ServeRequest runs concurrently on the transport's workers.
/// Routes are fixed at construction.
class Router final : public httplib::Server, public RequestHandler {
 public:
  /// `metrics` is not owned and must outlive the router.
  Router(std::vector<Route> routes, RouterOptions options, Metrics* metrics);

  bool ServeRequest(Connection& connection, bool close_connection) override;
  std::string TransportErrorResponse(TransportEvent event) override;
  void CountTransportEvent(TransportEvent event) override;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  // Finds the route of the request's method and path and dispatches it, or
  // sets 404 for RenderUnrouted.
  void RouteRequest(const httplib::Request& request, httplib::Response& response);
  void Dispatch(std::size_t route_index, const httplib::Request& request,
                httplib::Response& response);
  // Runs steps 1-5 of the file comment.
  std::variant<Reply, ApiError> Run(const Route& route, const httplib::Request& request) const;
  // httplib's error handler: renders every error response that no route rendered.
  HandlerResponse RenderUnrouted(const httplib::Request& request, httplib::Response& response);
  // Methods of the routes whose path matches `path`, e.g. "GET, DELETE".
  std::string AllowedMethods(const std::string& path) const;
  // True without an API key, or with "Authorization: Bearer <key>"; on Chroma's routes
  // (ErrorStyle::kChroma) also with "X-Chroma-Token: <key>", as Chroma's token auth sends it.
  bool Authorized(const httplib::Request& request, ErrorStyle style) const;

  const std::vector<Route> routes_;
  // templates_[i] is routes_[i].path split at '/' (see MatchPath in router.cc).
  const std::vector<std::vector<std::string>> templates_;
  const RouterOptions options_;
  Metrics* const metrics_;
};

}  // namespace quiver::server

#endif  // QUIVER_SERVER_ROUTER_H_
