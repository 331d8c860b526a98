// Copyright (c) Quiver authors.
//
// server/openapi.json, compiled in (see server/CMakeLists.txt and embed_text.cmake).

#ifndef QUIVER_SERVER_OPENAPI_H_
#define QUIVER_SERVER_OPENAPI_H_

#include <string_view>

namespace quiver::server {

/// The OpenAPI 3 description of every route, served at /openapi.json.
std::string_view OpenApiJson();

}  // namespace quiver::server

#endif  // QUIVER_SERVER_OPENAPI_H_
