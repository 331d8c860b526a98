// Copyright (c) Quiver authors.
//
// How the HTTP API reports errors. One mapping from quiver::StatusCode to an
// HTTP status (StatusToHttp), and three body shapes:
//
//   native (/v2, /metrics, ...): {"error": {"code": "invalid_argument", "message": "..."}}
//   memista (/v1):               {"error": "..."}
//   chroma (/api/v2):            {"error": "NotFoundError", "message": "..."} (type by HTTP status)
//
// The machine codes are StatusCodeName() of the quiver code, plus the
// transport's own: unauthorized, route_not_found, method_not_allowed,
// unsupported_media_type, payload_too_large, headers_too_large,
// uri_too_long, request_timeout, bad_request, unavailable. docs/http-api.md lists them with their
// HTTP statuses.

#ifndef QUIVER_SERVER_HTTP_ERRORS_H_
#define QUIVER_SERVER_HTTP_ERRORS_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "quiver/status.h"

namespace quiver::server {

/// The HTTP status for a non-OK quiver status code (200 for kOk):
///   invalid_argument 400, not_found 404, already_exists 409,
///   failed_precondition 409, not_supported 501, busy 503,
///   io_error / corruption / internal 500.
int StatusToHttp(StatusCode code);

/// An error as the API reports it.
struct ApiError {
  int http_status = 500;
  /// Stable machine-readable code, e.g. "invalid_argument".
  std::string code;
  /// Human-readable; names the offending field and the expected value.
  std::string message;

  /// From a non-OK quiver status: StatusToHttp and StatusCodeName.
  static ApiError FromStatus(const Status& status);
  /// The transport's own errors (HTTP status and code fixed by each).
  static ApiError Unauthorized();
  static ApiError RouteNotFound(std::string_view method, std::string_view path);
  static ApiError MethodNotAllowed(std::string_view method, std::string_view path,
                                   std::string_view allowed);
  static ApiError UnsupportedMediaType(std::string_view content_type);
  static ApiError PayloadTooLarge(std::size_t limit_bytes);
  static ApiError HeadersTooLarge(std::size_t limit_bytes);
  /// 414: the request line alone is over `limit_bytes`.
  static ApiError UriTooLong(std::size_t limit_bytes);
  static ApiError RequestTimeout();
  static ApiError BadRequest(std::string message);
  static ApiError Unavailable(std::string message);
};

/// Which body shape a route's errors take.
enum class ErrorStyle {
  kNative,   // {"error": {"code": ..., "message": ...}}
  kMemista,  // {"error": "..."}: what memista's clients parse
  kChroma,   // {"error": "NotFoundError", "message": "..."}: Chroma's ErrorResponse (/api/v2)
};

/// The JSON body of `error` in `style`.
std::string ErrorBody(ErrorStyle style, const ApiError& error);

/// The style for a request path: kMemista under /v1/ (but /v1/embeddings), kChroma under
/// /api/v2/, kNative elsewhere. Used
/// where no route matched (404, 405, 413 before routing).
ErrorStyle ErrorStyleForPath(std::string_view path);

}  // namespace quiver::server

#endif  // QUIVER_SERVER_HTTP_ERRORS_H_
