// Copyright (c) Quiver authors.

#include "server/chroma_catalog.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace quiver::server {
namespace {

using Json = nlohmann::json;

// The catalog file's format version (a later slice may add fields).
constexpr int kFormatVersion = 1;

// A catalog entry's metric, stored as quiver::MetricName writes it.
Result<Metric> ParseCatalogMetric(const std::string& name) {
  Result<Metric> metric = quiver::ParseMetric(name);
  if (!metric.ok())
    return Status::Corruption(fmt::format("chroma catalog: unknown metric '{}'", name));
  return metric;
}

// IOError for a failed system call on `path`.
Status Errno(const char* what, const std::string& path) {
  return Status::IOError(
      fmt::format("chroma catalog: {} '{}': {}", what, path, std::strerror(errno)));
}

// Writes `data` to `path` durably: fsync the file, rename over, fsync the directory.
Status WriteFileAtomically(const std::string& path, const std::string& data) {
  const std::string temporary = path + ".tmp";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("cannot create", temporary);
  std::size_t written = 0;
  while (written < data.size()) {
    const ssize_t n = ::write(fd, data.data() + written, data.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      Status status = Errno("cannot write", temporary);
      ::close(fd);
      return status;
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    Status status = Errno("cannot fsync", temporary);
    ::close(fd);
    return status;
  }
  ::close(fd);
  if (::rename(temporary.c_str(), path.c_str()) != 0) return Errno("cannot rename to", path);
  const std::size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return Errno("cannot open directory", dir);
  const int synced = ::fsync(dir_fd);
  ::close(dir_fd);
  if (synced != 0) return Errno("cannot fsync directory", dir);
  return Status::Ok();
}

}  // namespace

std::string NewUuid() {
  thread_local std::mt19937_64 random(std::random_device{}());
  std::uint64_t high = random();
  std::uint64_t low = random();
  high = (high & ~0xF000ULL) | 0x4000ULL;                // version 4
  low = (low & ~(0xC000ULL << 48)) | (0x8000ULL << 48);  // variant 1
  return fmt::format("{:08x}-{:04x}-{:04x}-{:04x}-{:012x}", high >> 32, (high >> 16) & 0xFFFF,
                     high & 0xFFFF, low >> 48, low & 0xFFFFFFFFFFFFULL);
}

Status ChromaCatalog::LoadLocked() {
  if (loaded_) return Status::Ok();
  std::ifstream file(path_);
  if (!file) {
    if (errno != ENOENT) return Errno("cannot read", path_);
    loaded_ = true;  // no catalog yet: nothing was ever created
    return Status::Ok();
  }
  std::stringstream text;
  text << file.rdbuf();
  Json root = Json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (!root.is_object() || root.value("version", 0) != kFormatVersion) {
    return Status::Corruption(
        fmt::format("chroma catalog '{}': not a version {} catalog", path_, kFormatVersion));
  }
  try {
    for (const Json& tenant : root.at("tenants")) tenants_.push_back(tenant.get<std::string>());
    for (const Json& database : root.at("databases")) {
      databases_.emplace_back(database.at("tenant").get<std::string>(),
                              database.at("name").get<std::string>());
    }
    for (const Json& entry : root.at("collections")) {
      ChromaCollection collection;
      collection.id = entry.at("id").get<std::string>();
      collection.tenant = entry.at("tenant").get<std::string>();
      collection.database = entry.at("database").get<std::string>();
      collection.name = entry.at("name").get<std::string>();
      collection.metadata_json = entry.at("metadata").dump();
      collection.configuration_json = entry.at("configuration").dump();
      Result<Metric> metric = ParseCatalogMetric(entry.at("metric").get<std::string>());
      if (!metric.ok()) return metric.status();
      collection.metric = *metric;
      collection.connectivity = entry.at("connectivity").get<std::uint32_t>();
      collection.expansion_add = entry.at("expansion_add").get<std::uint32_t>();
      collection.expansion_search = entry.at("expansion_search").get<std::uint32_t>();
      collections_.push_back(std::move(collection));
    }
  } catch (const Json::exception& e) {
    tenants_.clear();
    databases_.clear();
    collections_.clear();
    return Status::Corruption(fmt::format("chroma catalog '{}': {}", path_, e.what()));
  }
  loaded_ = true;
  return Status::Ok();
}

Status ChromaCatalog::SaveLocked() const {
  Json root = {{"version", kFormatVersion},
               {"tenants", tenants_},
               {"databases", Json::array()},
               {"collections", Json::array()}};
  for (const auto& [tenant, name] : databases_) {
    root["databases"].push_back(Json{{"tenant", tenant}, {"name", name}});
  }
  for (const ChromaCollection& collection : collections_) {
    root["collections"].push_back(
        Json{{"id", collection.id},
             {"tenant", collection.tenant},
             {"database", collection.database},
             {"name", collection.name},
             {"metadata", Json::parse(collection.metadata_json)},
             {"configuration", Json::parse(collection.configuration_json)},
             {"metric", std::string(MetricName(collection.metric))},
             {"connectivity", collection.connectivity},
             {"expansion_add", collection.expansion_add},
             {"expansion_search", collection.expansion_search}});
  }
  return WriteFileAtomically(path_, root.dump(1) + "\n");
}

Result<bool> ChromaCatalog::HasTenant(const std::string& tenant) {
  std::lock_guard<std::mutex> lock(mu_);
  if (Status status = LoadLocked(); !status.ok()) return status;
  return tenant == kChromaDefaultTenant ||
         std::find(tenants_.begin(), tenants_.end(), tenant) != tenants_.end();
}

Status ChromaCatalog::CreateTenant(const std::string& tenant) {
  std::lock_guard<std::mutex> lock(mu_);
  if (Status status = LoadLocked(); !status.ok()) return status;
  if (tenant == kChromaDefaultTenant ||
      std::find(tenants_.begin(), tenants_.end(), tenant) != tenants_.end()) {
    return Status::AlreadyExists(fmt::format("tenant '{}' already exists", tenant));
  }
  tenants_.push_back(tenant);
  Status saved = SaveLocked();
  if (!saved.ok()) tenants_.pop_back();
  return saved;
}

Result<bool> ChromaCatalog::HasDatabase(const std::string& tenant, const std::string& database) {
  std::lock_guard<std::mutex> lock(mu_);
  if (Status status = LoadLocked(); !status.ok()) return status;
  if (tenant == kChromaDefaultTenant && database == kChromaDefaultDatabase) return true;
  return std::find(databases_.begin(), databases_.end(), std::pair(tenant, database)) !=
         databases_.end();
}

Status ChromaCatalog::CreateDatabase(const std::string& tenant, const std::string& database) {
  std::lock_guard<std::mutex> lock(mu_);
  if (Status status = LoadLocked(); !status.ok()) return status;
  if (tenant != kChromaDefaultTenant &&
      std::find(tenants_.begin(), tenants_.end(), tenant) == tenants_.end()) {
    return Status::NotFound(fmt::format("tenant '{}' not found", tenant));
  }
  if ((tenant == kChromaDefaultTenant && database == kChromaDefaultDatabase) ||
      std::find(databases_.begin(), databases_.end(), std::pair(tenant, database)) !=
          databases_.end()) {
    return Status::AlreadyExists(
        fmt::format("database '{}' already exists in tenant '{}'", database, tenant));
  }
  databases_.emplace_back(tenant, database);
  Status saved = SaveLocked();
  if (!saved.ok()) databases_.pop_back();
  return saved;
}

Result<std::optional<ChromaCollection>> ChromaCatalog::FindByName(const std::string& tenant,
                                                                  const std::string& database,
                                                                  const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  if (Status status = LoadLocked(); !status.ok()) return status;
  for (const ChromaCollection& collection : collections_) {
    if (collection.tenant == tenant && collection.database == database && collection.name == name) {
      return std::optional<ChromaCollection>(collection);
    }
  }
  return std::optional<ChromaCollection>();
}

Result<std::optional<ChromaCollection>> ChromaCatalog::FindById(const std::string& tenant,
                                                                const std::string& database,
                                                                const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (Status status = LoadLocked(); !status.ok()) return status;
  for (const ChromaCollection& collection : collections_) {
    if (collection.tenant == tenant && collection.database == database && collection.id == id) {
      return std::optional<ChromaCollection>(collection);
    }
  }
  return std::optional<ChromaCollection>();
}

Result<std::vector<ChromaCollection>> ChromaCatalog::List(const std::string& tenant,
                                                          const std::string& database) {
  std::lock_guard<std::mutex> lock(mu_);
  if (Status status = LoadLocked(); !status.ok()) return status;
  std::vector<ChromaCollection> found;
  for (const ChromaCollection& collection : collections_) {
    if (collection.tenant == tenant && collection.database == database) {
      found.push_back(collection);
    }
  }
  return found;
}

Result<ChromaCollection> ChromaCatalog::Create(ChromaCollection collection,
                                               std::optional<ChromaCollection>* existing) {
  std::lock_guard<std::mutex> lock(mu_);
  if (Status status = LoadLocked(); !status.ok()) return status;
  for (const ChromaCollection& other : collections_) {
    if (other.tenant == collection.tenant && other.database == collection.database &&
        other.name == collection.name) {
      if (existing != nullptr) *existing = other;
      return Status::AlreadyExists(fmt::format("Collection [{}] already exists", other.name));
    }
  }
  collection.id = NewUuid();
  collections_.push_back(collection);
  Status saved = SaveLocked();
  if (!saved.ok()) {
    collections_.pop_back();
    return saved;
  }
  return collection;
}

Status ChromaCatalog::Remove(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (Status status = LoadLocked(); !status.ok()) return status;
  auto it = std::find_if(collections_.begin(), collections_.end(),
                         [&](const ChromaCollection& c) { return c.id == id; });
  if (it == collections_.end()) return Status::NotFound(fmt::format("collection {} not found", id));
  const ChromaCollection removed = *it;
  const std::size_t index = static_cast<std::size_t>(it - collections_.begin());
  collections_.erase(it);
  Status saved = SaveLocked();
  if (!saved.ok()) collections_.insert(collections_.begin() + index, removed);
  return saved;
}

}  // namespace quiver::server
