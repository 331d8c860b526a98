// Copyright (c) Quiver authors.
//
// What the route handlers share: the store, the options, the metrics and the
// /docs assets.

#ifndef QUIVER_SERVER_SERVICE_H_
#define QUIVER_SERVER_SERVICE_H_

#include <atomic>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

#include "quiver/collection.h"
#include "quiver/status.h"
#include "quiver/store.h"
#include "server/chroma_catalog.h"
#include "server/metrics.h"
#include "server/server.h"
#include "server/swagger_ui.h"

namespace quiver::server {

/// Thread safety: all methods may be called concurrently.
class Service {
 public:
  Service(const ServerOptions& options, Logger logger);

  const ServerOptions& options() const { return options_; }
  const Logger& logger() const { return logger_; }
  Metrics& metrics() { return metrics_; }
  const SwaggerUi& swagger_ui() const { return swagger_ui_; }

  /// The open store, or null while it opens and after it closed. Not owned.
  /// The Server publishes it after Store::Open and withdraws it only once no
  /// request runs, so it stays valid for the whole of a request that saw it.
  Store* store() const { return store_.load(std::memory_order_acquire); }
  void set_store(Store* store) { store_.store(store, std::memory_order_release); }

  /// Ready = store open and not shutting down (/readyz).
  bool ready() const { return store() != nullptr && !draining_.load(); }
  void set_draining() { draining_ = true; }

  /// The collection named `name`, which a request gave as `field` (e.g.
  /// "database_id"): InvalidArgument if the name is not valid (named after
  /// `field`), NotFound if there is no such collection. Needs store().
  Result<std::shared_ptr<Collection>> FindCollection(std::string_view name,
                                                     std::string_view field) const;

  /// The local embedding model `name` (POST /v1/embeddings), loaded on first
  /// use through ServerOptions::store.embedder_resolver's model directory and
  /// kept. InvalidArgument naming `model` for a remote ("openai:") or unknown
  /// name: the server embeds with its own models only, it is not a proxy.
  Result<std::shared_ptr<Embedder>> LocalEmbedder(const std::string& name);

  /// The Chroma API's catalog (server/chroma_catalog.h), kept in the store's properties;
  /// opened by the Server once the store is.
  ChromaCatalog& chroma_catalog() { return chroma_catalog_; }

 private:
  const ServerOptions options_;
  const Logger logger_;
  const SwaggerUi swagger_ui_;
  Metrics metrics_;
  std::atomic<Store*> store_{nullptr};
  std::atomic<bool> draining_{false};
  std::mutex embedders_mu_;
  std::vector<std::pair<std::string, std::shared_ptr<Embedder>>> embedders_;  // by name
  ChromaCatalog chroma_catalog_;
};

/// ValidateCollectionName, with the message naming the request field.
Status ValidateCollectionNameField(std::string_view name, std::string_view field);

}  // namespace quiver::server

#endif  // QUIVER_SERVER_SERVICE_H_
