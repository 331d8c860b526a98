// Copyright (c) Quiver authors.

#include "server/service.h"

#include <string>
#include <utility>

#include <fmt/format.h>

#include "quiver/embedders.h"

namespace quiver::server {

Service::Service(const ServerOptions& options, Logger logger)
    : options_(options),
      logger_(std::move(logger)),
      swagger_ui_(SwaggerUi::Load(ResolveSwaggerUiDir(options.swagger_ui_dir))) {}

Status ValidateCollectionNameField(std::string_view name, std::string_view field) {
  Status status = ValidateCollectionName(name);
  if (status.ok()) return status;
  // The name may be hostile ("../x", 10 KB of junk): quote at most a prefix.
  constexpr std::size_t kQuoted = 80;
  const std::string shown =
      name.size() <= kQuoted ? std::string(name) : fmt::format("{}...", name.substr(0, kQuoted));
  return Status::InvalidArgument(
      fmt::format("{}: '{}' is not a valid collection name: 1 to 64 characters of A-Z a-z 0-9 _ -",
                  field, shown));
}

Result<std::shared_ptr<Collection>> Service::FindCollection(std::string_view name,
                                                            std::string_view field) const {
  if (Status status = ValidateCollectionNameField(name, field); !status.ok()) return status;
  Store* open_store = store();
  if (open_store == nullptr) return Status::FailedPrecondition("the store is not open");
  return open_store->GetCollection(std::string(name));
}

Result<std::shared_ptr<Embedder>> Service::LocalEmbedder(const std::string& name) {
  std::lock_guard<std::mutex> lock(embedders_mu_);
  for (const auto& [known, embedder] : embedders_) {
    if (known == name) return embedder;
  }
  if (name.rfind("openai:", 0) == 0 || name.rfind("onnx:", 0) == 0) {
    return Status::InvalidArgument(
        fmt::format("model: '{}' is not a local model of this server; expected one of its "
                    "installed models, e.g. use-lite",
                    name));
  }
  Result<std::shared_ptr<Embedder>> loaded = embed::ResolveEmbedder(name, options_.embedders);
  if (!loaded.ok()) {
    if (loaded.status().code() == StatusCode::kNotFound) {
      return Status::InvalidArgument("model: " + loaded.status().message());
    }
    return loaded.status();
  }
  embedders_.emplace_back(name, *loaded);
  return *loaded;
}

}  // namespace quiver::server
