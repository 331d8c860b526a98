// Copyright (c) Quiver authors.
//
// libFuzzer target: the JSON request bodies of the HTTP API, /v1 (memista's
// insert, search, drop) and /v2 (create collection, upsert, get, delete,
// query), through the real route handlers (server/v1_routes.cc,
// server/v2_routes.cc, server/json_body.h, server/search_request.h) and a
// real store. Whatever the body, a handler must answer a Reply or an error
// Status, never crash, and (invariant I9 of docs/durability.md) a body it
// refuses writes nothing.
//
// Input: byte 0 chooses the route (index into the JSON routes, in table
// order); the rest is the request body. Routes with a {name} get the
// collection "fuzz" (3 dimensions, cos), which every input finds in place.
// Checked beyond "no crash": a refused request leaves the record count of
// "fuzz" unchanged; every error carries a message.
//
// State: one store on the scratch directory (tmpfs), synchronous=NORMAL and
// no automatic checkpoints, for speed. Collections an input creates are
// dropped after it, and "fuzz" is recreated empty every 4096 inputs so that
// the store stays small however long the run.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "quiver/collection.h"
#include "quiver/store.h"
#include "server/routes.h"
#include "server/server.h"
#include "server/service.h"

namespace {

constexpr const char* kCollection = "fuzz";
constexpr std::size_t kResetEvery = 4096;

quiver::CollectionConfig FuzzConfig() {
  quiver::CollectionConfig config;
  config.dimensions = 3;
  config.metric = quiver::Metric::kCos;
  return config;
}

/// The store, the service and the JSON routes, made once per process.
struct Fixture {
  std::unique_ptr<quiver::Store> store;
  std::unique_ptr<quiver::server::Service> service;
  std::vector<quiver::server::Route> routes;  // only routes that take a JSON body
  std::size_t inputs = 0;

  Fixture() {
    quiver::Logger quiet = [](quiver::LogLevel, std::string_view) {};
    quiver::StoreOptions options;
    options.synchronous = quiver::Synchronous::kNormal;
    options.checkpoint_every_changes = 0;
    options.checkpoint_interval_seconds = 0;
    options.checkpoint_on_close = false;
    options.insert_threads = 1;
    options.max_concurrent_searches = 1;
    options.logger = quiet;
    auto opened = quiver::Store::Open(quiver::fuzz::ScratchDir() + "/store", options);
    if (!opened.ok()) {
      std::fprintf(stderr, "fuzz_http_body: %s\n", opened.status().ToString().c_str());
      std::abort();
    }
    store = std::move(opened).value();
    quiver::server::ServerOptions server_options;
    server_options.data_dir = store->dir();
    service = std::make_unique<quiver::server::Service>(server_options, quiet);
    service->set_store(store.get());
    for (auto table :
         {quiver::server::MemistaRoutes(*service), quiver::server::NativeRoutes(*service)}) {
      for (auto& route : table) {
        if (route.json_body) routes.push_back(std::move(route));
      }
    }
    Reset();
  }

  /// Drops every collection, then creates "fuzz" empty.
  void Reset() {
    auto listed = store->ListCollections();
    if (!listed.ok()) std::abort();
    for (const quiver::CollectionInfo& info : *listed) {
      if (!store->DropCollection(info.name).ok()) std::abort();
    }
    if (!store->CreateCollection(kCollection, FuzzConfig()).ok()) std::abort();
  }

  /// Records in "fuzz", or nullopt when an input dropped or replaced it.
  std::optional<std::uint64_t> Count() {
    auto collection = store->GetCollection(kCollection);
    if (!collection.ok()) return std::nullopt;
    if ((*collection)->config().dimensions != 3) return std::nullopt;
    auto count = (*collection)->Count();
    if (!count.ok()) std::abort();
    return *count;
  }

  /// Undoes what an input may have changed besides records of "fuzz".
  void Tidy() {
    auto listed = store->ListCollections();
    if (!listed.ok()) std::abort();
    bool keep = false;
    for (const quiver::CollectionInfo& info : *listed) {
      if (info.name == kCollection && info.config.dimensions == 3 &&
          info.config.metric == quiver::Metric::kCos) {
        keep = true;
        continue;
      }
      if (!store->DropCollection(info.name).ok()) std::abort();
    }
    if (!keep || ++inputs % kResetEvery == 0) Reset();
  }
};

Fixture& GetFixture() {
  static Fixture* fixture = new Fixture();  // never destroyed: libFuzzer exits from anywhere
  return *fixture;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  Fixture& fixture = GetFixture();
  const quiver::server::Route& route = fixture.routes[data[0] % fixture.routes.size()];

  httplib::Request request;
  request.method = route.method;
  request.path = std::regex_replace(route.path, std::regex("\\{name\\}"), kCollection);
  request.body.assign(reinterpret_cast<const char*>(data + 1), size - 1);
  request.set_header("Content-Type", "application/json");
  // What the router's path match gives PathParameter(request, 1).
  static const std::regex kName("^/v2/collections/([^/]+)(/.*)?$");
  std::regex_match(request.path, request.matches, kName);

  const std::optional<std::uint64_t> before = fixture.Count();
  quiver::Result<quiver::server::Reply> reply = route.handler(request);
  if (!reply.ok()) {
    if (reply.status().message().empty()) std::abort();  // every error says why
    // A refused body writes nothing (I9); only a drop may remove "fuzz".
    const std::optional<std::uint64_t> after = fixture.Count();
    if (before && after && *before != *after) std::abort();
  }
  fixture.Tidy();
  return 0;
}
