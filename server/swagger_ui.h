// Copyright (c) Quiver authors.
//
// The /docs page: swagger-ui-dist renders /openapi.json. Its assets are
// installed by scripts/setup.sh into third_party/swagger-ui and served by
// this server (never from a CDN), read once at startup.

#ifndef QUIVER_SERVER_SWAGGER_UI_H_
#define QUIVER_SERVER_SWAGGER_UI_H_

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace quiver::server {

class SwaggerUi {
 public:
  struct Asset {
    std::string content_type;
    std::string bytes;
  };

  /// The files served under /docs/, by name.
  static constexpr std::string_view kAssetNames[] = {"swagger-ui-bundle.js", "swagger-ui.css",
                                                     "favicon-32x32.png"};

  /// Reads the assets from `dir`. Files that are missing are left out (see missing()).
  static SwaggerUi Load(const std::string& dir);

  /// The asset named `name` (one of kAssetNames), or nullopt. Only these
  /// names are ever looked up: a request path never reaches the filesystem.
  const Asset* Find(std::string_view name) const;

  /// The HTML page that loads the assets and renders `openapi_url`.
  static std::string Page(std::string_view openapi_url);

  const std::string& dir() const { return dir_; }
  /// Names of the assets that could not be read ("" = all present).
  const std::string& missing() const { return missing_; }

 private:
  std::string dir_;
  std::map<std::string, Asset, std::less<>> assets_;
  std::string missing_;
};

/// The directory of the assets: `configured` if not empty, else
/// $QUIVER_SWAGGER_UI_DIR if set, else the path compiled in (QUIVER_SWAGGER_UI_DIR).
std::string ResolveSwaggerUiDir(const std::string& configured);

}  // namespace quiver::server

#endif  // QUIVER_SERVER_SWAGGER_UI_H_
