// Copyright (c) Quiver authors.
//
// Operations: liveness, readiness, metrics, and the API's description.

#include <string>

#include "server/http_errors.h"
#include "server/json_out.h"
#include "server/openapi.h"
#include "server/routes.h"
#include "server/swagger_ui.h"

namespace quiver::server {
namespace {

// Liveness: the process serves HTTP. Needs no API key and no store.
Result<Reply> Healthz(Service&, const httplib::Request&) { return Reply::Json({{"status", "ok"}}); }

// Readiness: the store is open (recovery done) and the server is not shutting down.
Result<Reply> Readyz(Service& service, const httplib::Request&) {
  if (service.ready()) return Reply::Json({{"status", "ready"}});
  const ApiError not_ready = ApiError::Unavailable(
      service.store() == nullptr ? "the store is not open yet" : "the server is shutting down");
  return Reply{
      not_ready.http_status, "application/json", ErrorBody(ErrorStyle::kNative, not_ready), {}};
}

Result<Reply> MetricsText(Service& service, const httplib::Request&) {
  return Reply{200,
               "text/plain; version=0.0.4; charset=utf-8",
               service.metrics().Render(service.store()),
               {}};
}

Result<Reply> OpenApi(Service&, const httplib::Request&) {
  return Reply{200, "application/json", std::string(OpenApiJson()), {}};
}

Result<Reply> DocsPage(Service&, const httplib::Request&) {
  return Reply{200, "text/html; charset=utf-8", SwaggerUi::Page("/openapi.json"), {}};
}

Result<Reply> DocsAsset(Service& service, const httplib::Request& request) {
  const std::string name = PathParameter(request, 1);
  const SwaggerUi::Asset* asset = service.swagger_ui().Find(name);
  if (asset == nullptr) {
    return Status::NotFound(
        service.swagger_ui().missing().empty()
            ? "no such file under /docs/"
            : "swagger-ui assets missing from " + service.swagger_ui().dir() +
                  ": run scripts/setup.sh, or point QUIVER_SWAGGER_UI_DIR at swagger-ui-dist");
  }
  Reply reply{200, asset->content_type, asset->bytes, {}};
  reply.headers.emplace_back("Cache-Control", "public, max-age=86400");
  return reply;
}

}  // namespace

std::vector<Route> OperationsRoutes(Service& service) {
  constexpr bool kNoJson = false, kNoStore = false;
  return BindRoutes(service, ErrorStyle::kNative,
                    {
                        {"GET", "/healthz", Healthz, kNoJson, kNoStore, Access::kPublic},
                        {"GET", "/readyz", Readyz, kNoJson, kNoStore},
                        {"GET", "/metrics", MetricsText, kNoJson, kNoStore},
                        {"GET", "/openapi.json", OpenApi, kNoJson, kNoStore},
                        {"GET", "/docs", DocsPage, kNoJson, kNoStore},
                        {"GET", "/docs/{file}", DocsAsset, kNoJson, kNoStore},
                    });
}

}  // namespace quiver::server
