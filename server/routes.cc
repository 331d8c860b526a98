// Copyright (c) Quiver authors.

#include "server/routes.h"

#include <iterator>

namespace quiver::server {

std::vector<Route> BindRoutes(Service& service, ErrorStyle error_style,
                              std::initializer_list<RouteSpec> specs) {
  std::vector<Route> routes;
  for (const RouteSpec& spec : specs) {
    Route route;
    route.method = spec.method;
    route.path = spec.path;
    route.error_style = error_style;
    route.access = spec.access;
    route.json_body = spec.json_body;
    route.needs_store = spec.needs_store;
    route.handler = [&service, handler = spec.handler](const httplib::Request& request) {
      return handler(service, request);
    };
    routes.push_back(std::move(route));
  }
  return routes;
}

std::vector<Route> AllRoutes(Service& service) {
  std::vector<Route> routes;
  for (auto* make_group : {OperationsRoutes, MemistaRoutes, EmbeddingRoutes, NativeRoutes, ChromaRoutes}) {
    std::vector<Route> group = make_group(service);
    routes.insert(routes.end(), std::make_move_iterator(group.begin()),
                  std::make_move_iterator(group.end()));
  }
  return routes;
}

}  // namespace quiver::server
