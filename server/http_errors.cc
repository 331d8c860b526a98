// Copyright (c) Quiver authors.

#include "server/http_errors.h"

#include <fmt/format.h>

#include "server/json_out.h"

namespace quiver::server {

int StatusToHttp(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kAlreadyExists:
    case StatusCode::kFailedPrecondition:
      return 409;
    case StatusCode::kNotSupported:
      return 501;
    case StatusCode::kBusy:
      return 503;
    case StatusCode::kUnavailable:
      return 502;  // an upstream (embedding) server failed: Bad Gateway
    case StatusCode::kCorruption:
    case StatusCode::kIOError:
    case StatusCode::kInternal:
      return 500;
  }
  return 500;  // An out-of-range value: treat it as a bug.
}

ApiError ApiError::FromStatus(const Status& status) {
  return {StatusToHttp(status.code()), std::string(StatusCodeName(status.code())),
          status.message()};
}

ApiError ApiError::Unauthorized() {
  return {401, "unauthorized", "missing or wrong API key: send 'Authorization: Bearer <key>'"};
}

ApiError ApiError::RouteNotFound(std::string_view method, std::string_view path) {
  return {404, "route_not_found", fmt::format("no route {} {}", method, path)};
}

ApiError ApiError::MethodNotAllowed(std::string_view method, std::string_view path,
                                    std::string_view allowed) {
  return {405, "method_not_allowed",
          fmt::format("{} is not allowed on {}; allowed: {}", method, path, allowed)};
}

ApiError ApiError::UnsupportedMediaType(std::string_view content_type) {
  return {415, "unsupported_media_type",
          fmt::format("request body must be JSON sent with 'Content-Type: application/json', "
                      "got '{}'",
                      content_type)};
}

ApiError ApiError::PayloadTooLarge(std::size_t limit_bytes) {
  return {413, "payload_too_large",
          fmt::format("request body exceeds the limit of {} bytes", limit_bytes)};
}

ApiError ApiError::HeadersTooLarge(std::size_t limit_bytes) {
  return {431, "headers_too_large",
          fmt::format("request line and headers exceed the limit of {} bytes", limit_bytes)};
}

ApiError ApiError::UriTooLong(std::size_t limit_bytes) {
  return {414, "uri_too_long",
          fmt::format("request line exceeds the limit of {} bytes", limit_bytes)};
}

ApiError ApiError::RequestTimeout() {
  return {408, "request_timeout", "the request did not arrive in time; the connection is closed"};
}

ApiError ApiError::BadRequest(std::string message) {
  return {400, "bad_request", std::move(message)};
}

ApiError ApiError::Unavailable(std::string message) {
  return {503, "unavailable", std::move(message)};
}

// Chroma's error type names (chromadb's errors), which its clients show.
static std::string ChromaErrorName(const ApiError& error) {
  switch (error.http_status) {
    case 400:
      return "InvalidArgumentError";
    case 401:
      return "AuthError";
    case 404:
      return "NotFoundError";
    case 409:
      return "UniqueConstraintError";
    case 501:
      return "NotImplementedError";
    default:
      return error.http_status < 500 ? "ChromaError" : "InternalError";
  }
}

std::string ErrorBody(ErrorStyle style, const ApiError& error) {
  JsonOut body;
  if (style == ErrorStyle::kMemista) {
    body["error"] = error.message;
  } else if (style == ErrorStyle::kChroma) {
    body["error"] = ChromaErrorName(error);
    body["message"] = error.message;
  } else {
    body["error"] = {{"code", error.code}, {"message", error.message}};
  }
  return DumpJson(body);
}

ErrorStyle ErrorStyleForPath(std::string_view path) {
  // /v1/embeddings is OpenAI's API, whose clients read {"error": {"message"}}.
  if (path.starts_with("/api/v2/")) return ErrorStyle::kChroma;
  return path.starts_with("/v1/") && path != "/v1/embeddings" ? ErrorStyle::kMemista
                                                              : ErrorStyle::kNative;
}

}  // namespace quiver::server
