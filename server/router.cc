// Copyright (c) Quiver authors.

#include "server/router.h"

#include <cctype>
#include <charconv>
#include <cstring>
#include <exception>
#include <optional>

#include <fmt/format.h>

#include "server/auth.h"
#include "server/log.h"

namespace quiver::server {
namespace {

// The path parameters of the request the calling thread is serving (see PathParameter).
thread_local std::vector<std::string> current_path_parameters;

// "/v2/collections/{name}" -> {"", "v2", "collections", "{name}"}.
std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> segments;
  std::size_t begin = 0;
  for (;;) {
    const std::size_t end = path.find('/', begin);
    segments.emplace_back(path.substr(begin, end - begin));
    if (end == std::string_view::npos) return segments;
    begin = end + 1;
  }
}

std::vector<std::vector<std::string>> TemplatesFor(const std::vector<Route>& routes) {
  std::vector<std::vector<std::string>> templates;
  for (const Route& route : routes) templates.push_back(SplitPath(route.path));
  return templates;
}

// Whether `path` matches the split path template: the same number of
// segments, literal ones equal, each {parameter} one non-empty segment
// (appended to `parameters` when not null).
bool MatchPath(const std::vector<std::string>& path_template, std::string_view path,
               std::vector<std::string>* parameters) {
  std::size_t begin = 0;
  for (std::size_t i = 0; i < path_template.size(); ++i) {
    if (begin > path.size()) return false;  // the path has fewer segments
    const std::size_t end = std::min(path.find('/', begin), path.size());
    const std::string_view segment = path.substr(begin, end - begin);
    const std::string& expected = path_template[i];
    if (!expected.empty() && expected.front() == '{') {
      if (segment.empty()) return false;
      if (parameters != nullptr) parameters->emplace_back(segment);
    } else if (segment != expected) {
      return false;
    }
    begin = end + 1;
  }
  return begin == path.size() + 1;  // no segments left
}

// True for "application/json", with any parameters ("; charset=utf-8") and in any case.
bool IsJsonMediaType(std::string_view content_type) {
  std::string_view media_type = content_type.substr(0, content_type.find(';'));
  while (!media_type.empty() && media_type.back() == ' ') media_type.remove_suffix(1);
  constexpr std::string_view kJson = "application/json";
  if (media_type.size() != kJson.size()) return false;
  for (std::size_t i = 0; i < kJson.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(media_type[i])) != kJson[i]) return false;
  }
  return true;
}

// The declared body length: nullopt for a chunked body (its length is not
// known up front), else Content-Length (0 when absent or unparsable: a request
// without either header has no body, RFC 9112 section 6.3).
std::optional<std::size_t> DeclaredBodyLength(const httplib::Request& request) {
  if (request.has_header("Transfer-Encoding")) return std::nullopt;
  const std::string value = request.get_header_value("Content-Length");
  std::size_t length = 0;
  std::from_chars(value.data(), value.data() + value.size(), length);
  return length;
}

// What httplib rejected before any route ran, by the status it chose.
std::string FramingErrorMessage(int status) {
  switch (status) {
    case 400:
      return "malformed HTTP request: bad request line, header or body framing";
    case 414:
      return "request target too long";
    case 416:
      return "unsatisfiable Range header";
    default:
      return fmt::format("HTTP request rejected with status {}", status);
  }
}

// The reason phrase of the statuses the transport answers itself.
std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 408:
      return "Request Timeout";
    case 414:
      return "URI Too Long";
    case 431:
      return "Request Header Fields Too Large";
    default:
      return "Bad Request";
  }
}

void RenderError(const ApiError& error, ErrorStyle style, httplib::Response& response) {
  response.status = error.http_status;
  response.set_content(ErrorBody(style, error), "application/json");
  if (error.http_status == 401) response.set_header("WWW-Authenticate", "Bearer realm=\"quiver\"");
}

}  // namespace

Reply Reply::Json(const JsonOut& value, int status) {
  return Reply{status, "application/json", DumpJson(value), {}};
}

std::string PathParameter(const httplib::Request&, std::size_t index) {
  return index >= 1 && index <= current_path_parameters.size() ? current_path_parameters[index - 1]
                                                               : std::string();
}

Router::Router(std::vector<Route> routes, RouterOptions options, Metrics* metrics)
    : routes_(std::move(routes)),
      templates_(TemplatesFor(routes_)),
      options_(std::move(options)),
      metrics_(metrics) {
  set_payload_max_length(options_.max_body_bytes);
  set_keep_alive_timeout(options_.keep_alive_timeout_s);
  set_keep_alive_max_count(static_cast<std::size_t>(options_.keep_alive_max_requests));
  set_error_handler(
      HandlerWithResponse([this](const httplib::Request& request, httplib::Response& response) {
        return RenderUnrouted(request, response);
      }));
  // "Expect: 100-continue" (curl sends it for bodies above 1 MiB): refuse an
  // oversized body before the client sends it, instead of after.
  set_expect_100_continue_handler(
      [this](const httplib::Request& request, httplib::Response& response) {
        const std::optional<std::size_t> length = DeclaredBodyLength(request);
        if (!length || *length <= options_.max_body_bytes) return 100;
        response.status = 413;  // rendered by RenderUnrouted
        return 413;
      });
  // One catch-all handler per method: httplib would try one std::regex per
  // route (tens of microseconds per request); MatchPath compares segments.
  auto route = [this](const httplib::Request& request, httplib::Response& response) {
    RouteRequest(request, response);
  };
  Get(".*", route);  // and HEAD
  Post(".*", route);
  Delete(".*", route);
  Put(".*", route);
  for (const Route& defined : routes_) {
    if (defined.method != "GET" && defined.method != "POST" && defined.method != "DELETE" &&
        defined.method != "PUT") {
      Log(options_.logger, LogLevel::kError, "route {} {}: unsupported method, not served",
          defined.method, defined.path);
    }
  }
}

void Router::RouteRequest(const httplib::Request& request, httplib::Response& response) {
  const std::string_view method = request.method == "HEAD" ? "GET" : request.method;
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    if (routes_[i].method != method) continue;
    current_path_parameters.clear();
    if (MatchPath(templates_[i], request.path, &current_path_parameters)) {
      Dispatch(i, request, response);
      return;
    }
  }
  response.status = 404;  // rendered by RenderUnrouted (404, or 405 with Allow)
}

bool Router::ServeRequest(Connection& connection, bool close_connection) {
  ScopedCurrentConnection current(&connection);
  bool connection_closed = false;
  const bool written = process_request(
      connection, close_connection, connection_closed, [&connection](httplib::Request& request) {
        const std::optional<std::size_t> length = DeclaredBodyLength(request);
        // httplib would otherwise read a POST without either
        // header until the client closes the connection.
        if (length == 0) request.set_header("Content-Length", "0");
        connection.BeginBody(length);
      });
  return written && !connection_closed && !connection.close_after_response() &&
         connection.read_failure() == ReadFailure::kNone;
}

std::string Router::TransportErrorResponse(TransportEvent event) {
  ApiError error;
  switch (event) {
    case TransportEvent::kHeaderTimeout:
    case TransportEvent::kBodyTimeout:
      error = ApiError::RequestTimeout();
      break;
    case TransportEvent::kUriTooLong:
      error = ApiError::UriTooLong(kRequestLineBudgetBytes);
      break;
    case TransportEvent::kHeadersTooLarge:
      error = ApiError::HeadersTooLarge(kHeaderBudgetBytes);
      break;
    default:
      error =
          ApiError::BadRequest("malformed HTTP request: unparsable Content-Length or chunk size");
      break;
  }
  CountTransportEvent(event);
  metrics_->ObserveRequest("other", "unmatched", error.http_status, 0.0);
  const std::string body = ErrorBody(ErrorStyle::kNative, error);
  return fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n"
      "Connection: close\r\n\r\n{}",
      error.http_status, ReasonPhrase(error.http_status), body.size(), body);
}

void Router::CountTransportEvent(TransportEvent event) { metrics_->CountTransportEvent(event); }

bool Router::Authorized(const httplib::Request& request, ErrorStyle style) const {
  if (options_.api_key.empty()) return true;
  if (IsAuthorized(request.get_header_value("Authorization"), options_.api_key)) return true;
  // Chroma's token authentication may send the key in its own header instead.
  return style == ErrorStyle::kChroma && request.has_header("X-Chroma-Token") &&
         ConstantTimeEquals(request.get_header_value("X-Chroma-Token"), options_.api_key);
}

std::variant<Reply, ApiError> Router::Run(const Route& route,
                                          const httplib::Request& request) const {
  if (route.access == Access::kApiKey && !Authorized(request, route.error_style)) {
    return ApiError::Unauthorized();
  }
  if (route.json_body && !IsJsonMediaType(request.get_header_value("Content-Type"))) {
    return ApiError::UnsupportedMediaType(request.get_header_value("Content-Type"));
  }
  // A chunked body is only bounded approximately while it is read.
  if (request.body.size() > options_.max_body_bytes) {
    return ApiError::PayloadTooLarge(options_.max_body_bytes);
  }
  if (route.needs_store && !(options_.store_open && options_.store_open())) {
    return ApiError::Unavailable("the store is not open: the server is starting or shutting down");
  }
  try {
    Result<Reply> reply = route.handler(request);
    if (!reply.ok()) return ApiError::FromStatus(reply.status());
    return std::move(*reply);
  } catch (const std::exception& e) {
    // Handlers return errors as values; this is a bug or an allocation failure.
    Log(options_.logger, LogLevel::kError, "{} {}: unexpected exception: {}", request.method,
        request.path, e.what());
    return ApiError{500, "internal", fmt::format("unexpected error: {}", e.what())};
  }
}

void Router::Dispatch(std::size_t route_index, const httplib::Request& request,
                      httplib::Response& response) {
  const Route& route = routes_[route_index];
  const Clock::time_point start = Clock::now();
  std::variant<Reply, ApiError> outcome = Run(route, request);
  if (Reply* reply = std::get_if<Reply>(&outcome)) {
    response.status = reply->status;
    for (const auto& [name, value] : reply->headers) response.set_header(name, value);
    response.set_content(std::move(reply->body), reply->content_type);
  } else {
    RenderError(std::get<ApiError>(outcome), route.error_style, response);
  }
  if (response.body.size() > options_.max_response_bytes) {
    metrics_->CountBudgetHit(BudgetLimit::kResponseBytes);
    RenderError(ApiError::FromStatus(Status::InvalidArgument(
                    fmt::format("the response would be {} bytes, over the limit of {} "
                                "(--max-response-bytes); ask for fewer records or fields",
                                response.body.size(), options_.max_response_bytes))),
                route.error_style, response);
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  metrics_->ObserveRequest(request.method, route.path, response.status, seconds);
  Log(options_.logger, LogLevel::kDebug, "{} {} {} -> {} in {:.3f} ms", request.remote_addr,
      request.method, request.path, response.status, seconds * 1000);
}

httplib::Server::HandlerResponse Router::RenderUnrouted(const httplib::Request& request,
                                                        httplib::Response& response) {
  if (!response.body.empty()) return HandlerResponse::Unhandled;  // a route rendered it
  Connection* connection = CurrentConnection();
  const ReadFailure failure =
      connection != nullptr ? connection->read_failure() : ReadFailure::kNone;
  std::string allowed;
  ApiError error;
  if (failure == ReadFailure::kTimeout) {
    error = ApiError::RequestTimeout();
  } else if (failure == ReadFailure::kHeadersTooLarge) {
    error = ApiError::HeadersTooLarge(kHeaderBudgetBytes);
  } else if (failure == ReadFailure::kTooLarge || response.status == 413) {
    error = ApiError::PayloadTooLarge(options_.max_body_bytes);
  } else if (response.status == 404) {
    if (!Authorized(request, ErrorStyleForPath(request.path))) {
      error = ApiError::Unauthorized();
    } else {
      allowed = AllowedMethods(request.path);
      error = allowed.empty() ? ApiError::RouteNotFound(request.method, request.path)
                              : ApiError::MethodNotAllowed(request.method, request.path, allowed);
    }
  } else {
    error = ApiError::BadRequest(FramingErrorMessage(response.status));
    error.http_status = response.status;
  }
  // After a framing error the connection's byte stream cannot be trusted.
  if (connection != nullptr && error.http_status != 401 && error.http_status != 404 &&
      error.http_status != 405) {
    connection->CloseAfterResponse();
  }
  RenderError(error, ErrorStyleForPath(request.path), response);
  if (!allowed.empty()) response.set_header("Allow", allowed);
  metrics_->ObserveRequest(request.method, "unmatched", response.status, 0.0);
  Log(options_.logger, LogLevel::kDebug, "{} {} {} -> {} ({})", request.remote_addr,
      MethodLabel(request.method), request.path, response.status, error.code);
  return HandlerResponse::Handled;
}

std::string Router::AllowedMethods(const std::string& path) const {
  std::vector<std::string> methods;
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    if (!MatchPath(templates_[i], path, nullptr)) continue;
    methods.push_back(routes_[i].method);
    if (routes_[i].method == "GET") methods.push_back("HEAD");
  }
  return fmt::format("{}", fmt::join(methods, ", "));
}

}  // namespace quiver::server
