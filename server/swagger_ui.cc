// Copyright (c) Quiver authors.

#include "server/swagger_ui.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#ifndef QUIVER_SWAGGER_UI_DIR
#define QUIVER_SWAGGER_UI_DIR ""
#endif

namespace quiver::server {
namespace {

std::string ContentTypeOf(std::string_view name) {
  if (name.ends_with(".js")) return "application/javascript; charset=utf-8";
  if (name.ends_with(".css")) return "text/css; charset=utf-8";
  if (name.ends_with(".png")) return "image/png";
  return "application/octet-stream";
}

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return std::nullopt;
  std::ostringstream bytes;
  bytes << file.rdbuf();
  return bytes.str();
}

}  // namespace

SwaggerUi SwaggerUi::Load(const std::string& dir) {
  SwaggerUi ui;
  ui.dir_ = dir;
  for (std::string_view name : kAssetNames) {
    std::optional<std::string> bytes = ReadFile(fmt::format("{}/{}", dir, name));
    if (bytes) {
      ui.assets_.emplace(std::string(name), Asset{ContentTypeOf(name), std::move(*bytes)});
    } else {
      ui.missing_ += ui.missing_.empty() ? std::string(name) : fmt::format(", {}", name);
    }
  }
  return ui;
}

const SwaggerUi::Asset* SwaggerUi::Find(std::string_view name) const {
  auto it = assets_.find(name);
  return it == assets_.end() ? nullptr : &it->second;
}

std::string SwaggerUi::Page(std::string_view openapi_url) {
  return fmt::format(R"(<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Quiver HTTP API</title>
  <link rel="icon" type="image/png" href="/docs/favicon-32x32.png">
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({{ url: "{}", dom_id: "#swagger-ui", deepLinking: true }});
  </script>
</body>
</html>
)",
                     openapi_url);
}

std::string ResolveSwaggerUiDir(const std::string& configured) {
  if (!configured.empty()) return configured;
  if (const char* from_environment = std::getenv("QUIVER_SWAGGER_UI_DIR");
      from_environment != nullptr && *from_environment != '\0') {
    return from_environment;
  }
  return QUIVER_SWAGGER_UI_DIR;
}

}  // namespace quiver::server
