// Copyright (c) Quiver authors.

#include "server/chroma_catalog.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "server/log.h"
#include "server/status_macros.h"

namespace quiver::server {
namespace {

using Json = nlohmann::json;

constexpr char kPrefix[] = "chroma/";
constexpr char kVersionKey[] = "chroma/version";
constexpr char kNextOrderKey[] = "chroma/next_order";
constexpr char kTenantPrefix[] = "chroma/tenant/";
constexpr char kDatabasePrefix[] = "chroma/database/";
constexpr char kCollectionPrefix[] = "chroma/collection/";
constexpr char kCatalogVersion[] = "1";

// The legacy catalog file's format version.
constexpr int kLegacyFileVersion = 1;

std::string TenantKey(const std::string& tenant) { return kTenantPrefix + tenant; }
std::string DatabaseKey(const std::string& tenant, const std::string& database) {
  return kDatabasePrefix + tenant + "/" + database;
}
std::string CollectionKey(const std::string& id) { return kCollectionPrefix + id; }

std::string TenantValue(std::uint64_t order) { return Json{{"order", order}}.dump(); }
std::string DatabaseValue(const ChromaDatabase& database) {
  return Json{{"id", database.id}, {"order", database.order}}.dump();
}

std::string CollectionValue(const ChromaCollection& collection) {
  return Json{{"tenant", collection.tenant},
              {"database", collection.database},
              {"name", collection.name},
              {"metadata", Json::parse(collection.metadata_json)},
              {"configuration", Json::parse(collection.configuration_json)},
              {"metric", std::string(MetricName(collection.metric))},
              {"connectivity", collection.connectivity},
              {"expansion_add", collection.expansion_add},
              {"expansion_search", collection.expansion_search},
              {"order", collection.order}}
      .dump();
}

// Reads a collection entry (the property's value, or a legacy file entry, which has
// no "order"). Throws Json::exception on a malformed entry.
ChromaCollection ParseCollection(const std::string& id, const Json& entry) {
  ChromaCollection collection;
  collection.id = id;
  collection.tenant = entry.at("tenant").get<std::string>();
  collection.database = entry.at("database").get<std::string>();
  collection.name = entry.at("name").get<std::string>();
  collection.metadata_json = entry.at("metadata").dump();
  collection.configuration_json = entry.at("configuration").dump();
  Result<Metric> metric = quiver::ParseMetric(entry.at("metric").get<std::string>());
  if (!metric.ok()) {
    throw Json::other_error::create(
        501, fmt::format("unknown metric '{}'", entry.at("metric").get<std::string>()), &entry);
  }
  collection.metric = *metric;
  collection.connectivity = entry.at("connectivity").get<std::uint32_t>();
  collection.expansion_add = entry.at("expansion_add").get<std::uint32_t>();
  collection.expansion_search = entry.at("expansion_search").get<std::uint32_t>();
  collection.order = entry.value("order", std::uint64_t{0});
  return collection;
}

// The default tenant and database of a new catalog.
void AddDefaults(std::vector<std::pair<std::string, std::uint64_t>>* tenants,
                 std::vector<ChromaDatabase>* databases) {
  tenants->emplace_back(kChromaDefaultTenant, 0);
  databases->push_back(
      ChromaDatabase{kChromaDefaultDatabaseId, kChromaDefaultTenant, kChromaDefaultDatabase, 0});
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

bool IsUuid(std::string_view text) {
  if (text.size() != 36) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? text[i] != '-' : !std::isxdigit(static_cast<unsigned char>(text[i]))) return false;
  }
  return true;
}

Status ChromaCatalog::Open(Store* store, const std::string& legacy_file, const Logger& logger) {
  std::lock_guard<std::mutex> lock(mu_);
  store_ = store;
  tenants_.clear();
  databases_.clear();
  collections_.clear();
  next_order_ = 1;
  read_only_defaults_ = false;

  Result<std::vector<Property>> properties = store_->GetProperties(kPrefix);
  if (!properties.ok()) return properties.status().WithContext("reading the Chroma catalog");
  const bool has_catalog = std::any_of(properties->begin(), properties->end(),
                                       [](const Property& p) { return p.key == kVersionKey; });
  std::error_code exists_error;
  const bool has_legacy = std::filesystem::exists(legacy_file, exists_error);
  if (has_legacy && has_catalog) {
    Log(logger, LogLevel::kWarn,
        "chroma catalog: '{}' is left over from an import that finished (the store's properties "
        "hold the catalog); removing it",
        legacy_file);
    std::error_code removed;
    std::filesystem::remove(legacy_file, removed);
  }
  if (!has_catalog) {
    if (has_legacy) return ImportLegacyLocked(legacy_file, logger);
    AddDefaults(&tenants_, &databases_);
    std::vector<PropertyChange> changes = {
        {kVersionKey, kCatalogVersion},
        {TenantKey(kChromaDefaultTenant), TenantValue(0)},
        {DatabaseKey(kChromaDefaultTenant, kChromaDefaultDatabase), DatabaseValue(databases_[0])},
        {kNextOrderKey, "1"}};
    Status written = store_->SetProperties(changes);
    if (written.code() == StatusCode::kNotSupported) {
      read_only_defaults_ = true;  // a read-only store: the defaults, in memory only
      return Status::Ok();
    }
    return written.WithContext("creating the Chroma catalog");
  }

  try {
    for (const Property& property : *properties) {
      const std::string& key = property.key;
      if (key == kVersionKey) {
        if (property.value != kCatalogVersion) {
          return Status::Corruption(
              fmt::format("chroma catalog: version '{}'; this Quiver reads version {}",
                          property.value, kCatalogVersion));
        }
      } else if (key == kNextOrderKey) {
        const auto [end, error] = std::from_chars(
            property.value.data(), property.value.data() + property.value.size(), next_order_);
        if (error != std::errc()) {
          return Status::Corruption("chroma catalog: next_order is '" + property.value + "'");
        }
      } else if (key.starts_with(kTenantPrefix)) {
        const Json value = Json::parse(property.value);
        tenants_.emplace_back(key.substr(sizeof(kTenantPrefix) - 1),
                              value.at("order").get<std::uint64_t>());
      } else if (key.starts_with(kDatabasePrefix)) {
        const std::string rest = key.substr(sizeof(kDatabasePrefix) - 1);
        const std::size_t slash = rest.find('/');
        if (slash == std::string::npos) {
          return Status::Corruption("chroma catalog: malformed key '" + key + "'");
        }
        const Json value = Json::parse(property.value);
        databases_.push_back(ChromaDatabase{value.at("id").get<std::string>(),
                                            rest.substr(0, slash), rest.substr(slash + 1),
                                            value.at("order").get<std::uint64_t>()});
      } else if (key.starts_with(kCollectionPrefix)) {
        collections_.push_back(ParseCollection(key.substr(sizeof(kCollectionPrefix) - 1),
                                               Json::parse(property.value)));
      }
      // Other keys under chroma/ belong to a later version's additions: left alone.
    }
  } catch (const Json::exception& e) {
    return Status::Corruption(fmt::format("chroma catalog: {}", e.what()));
  }
  auto by_order = [](const auto& a, const auto& b) { return a.order < b.order; };
  std::stable_sort(databases_.begin(), databases_.end(), by_order);
  std::stable_sort(collections_.begin(), collections_.end(), by_order);
  return Status::Ok();
}

Status ChromaCatalog::ImportLegacyLocked(const std::string& path, const Logger& logger) {
  std::ifstream file(path);
  if (!file) return Status::IOError(fmt::format("chroma catalog: cannot read '{}'", path));
  std::stringstream text;
  text << file.rdbuf();
  const Json root = Json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (!root.is_object() || root.value("version", 0) != kLegacyFileVersion) {
    return Status::Corruption(
        fmt::format("chroma catalog '{}': not a version {} catalog file; move it away to start "
                    "the server without it",
                    path, kLegacyFileVersion));
  }
  std::vector<PropertyChange> changes = {{kVersionKey, kCatalogVersion}};
  AddDefaults(&tenants_, &databases_);  // implied by the file format
  try {
    for (const Json& tenant : root.at("tenants")) {
      tenants_.emplace_back(tenant.get<std::string>(), next_order_++);
    }
    for (const Json& database : root.at("databases")) {
      databases_.push_back(ChromaDatabase{NewUuid(), database.at("tenant").get<std::string>(),
                                          database.at("name").get<std::string>(), next_order_++});
    }
    for (const Json& entry : root.at("collections")) {
      ChromaCollection collection = ParseCollection(entry.at("id").get<std::string>(), entry);
      collection.order = next_order_++;
      collections_.push_back(std::move(collection));
    }
  } catch (const Json::exception& e) {
    tenants_.clear();
    databases_.clear();
    collections_.clear();
    return Status::Corruption(fmt::format(
        "chroma catalog '{}': {}; move it away to start the server without it", path, e.what()));
  }
  for (const auto& [tenant, order] : tenants_)
    changes.push_back({TenantKey(tenant), TenantValue(order)});
  for (const ChromaDatabase& database : databases_) {
    changes.push_back({DatabaseKey(database.tenant, database.name), DatabaseValue(database)});
  }
  for (const ChromaCollection& collection : collections_) {
    changes.push_back({CollectionKey(collection.id), CollectionValue(collection)});
  }
  changes.push_back({kNextOrderKey, std::to_string(next_order_)});
  Status written = store_->SetProperties(changes);
  if (written.code() == StatusCode::kNotSupported) {
    read_only_defaults_ = true;
    Log(logger, LogLevel::kWarn,
        "chroma catalog: the store is read-only, so '{}' ({} collections) is read but not "
        "imported into it; open the store writable once to import it",
        path, collections_.size());
    return Status::Ok();
  }
  if (!written.ok()) return written.WithContext("importing the Chroma catalog file " + path);
  std::error_code removed;
  std::filesystem::remove(path, removed);
  Log(logger, LogLevel::kInfo,
      "chroma catalog: imported '{}' ({} tenants, {} databases, {} collections) into the store; "
      "{}",
      path, tenants_.size(), databases_.size(), collections_.size(),
      removed ? "could not remove the file: " + removed.message() : "removed the file");
  return Status::Ok();
}

void ChromaCatalog::Close() {
  std::lock_guard<std::mutex> lock(mu_);
  store_ = nullptr;
}

Status ChromaCatalog::CheckOpenLocked() const {
  if (store_ == nullptr) return Status::FailedPrecondition("the Chroma catalog is not open");
  return Status::Ok();
}

Result<std::uint64_t> ChromaCatalog::WriteLocked(std::vector<PropertyChange> changes,
                                                 std::uint64_t orders) {
  QS_RETURN_IF_ERROR(CheckOpenLocked());
  if (read_only_defaults_) {
    return Status::NotSupported("the store is open read-only; the Chroma catalog cannot change");
  }
  const std::uint64_t first = next_order_;
  if (orders > 0) changes.push_back({kNextOrderKey, std::to_string(next_order_ + orders)});
  QS_RETURN_IF_ERROR(store_->SetProperties(changes));
  next_order_ += orders;
  return first;
}

Result<bool> ChromaCatalog::HasTenant(const std::string& tenant) {
  std::lock_guard<std::mutex> lock(mu_);
  QS_RETURN_IF_ERROR(CheckOpenLocked());
  return std::any_of(tenants_.begin(), tenants_.end(),
                     [&](const auto& known) { return known.first == tenant; });
}

Status ChromaCatalog::CreateTenant(const std::string& tenant) {
  std::lock_guard<std::mutex> lock(mu_);
  QS_RETURN_IF_ERROR(CheckOpenLocked());
  if (std::any_of(tenants_.begin(), tenants_.end(),
                  [&](const auto& known) { return known.first == tenant; })) {
    return Status::AlreadyExists(fmt::format("Tenant [{}] already exists", tenant));
  }
  QS_ASSIGN_OR_RETURN(std::uint64_t order,
                      WriteLocked({{TenantKey(tenant), TenantValue(next_order_)}}, 1));
  tenants_.emplace_back(tenant, order);
  return Status::Ok();
}

Result<std::optional<ChromaDatabase>> ChromaCatalog::FindDatabase(const std::string& tenant,
                                                                  const std::string& database) {
  std::lock_guard<std::mutex> lock(mu_);
  QS_RETURN_IF_ERROR(CheckOpenLocked());
  for (const ChromaDatabase& known : databases_) {
    if (known.tenant == tenant && known.name == database) {
      return std::optional<ChromaDatabase>(known);
    }
  }
  return std::optional<ChromaDatabase>();
}

Status ChromaCatalog::CreateDatabase(const std::string& tenant, const std::string& database) {
  std::lock_guard<std::mutex> lock(mu_);
  QS_RETURN_IF_ERROR(CheckOpenLocked());
  if (!std::any_of(tenants_.begin(), tenants_.end(),
                   [&](const auto& known) { return known.first == tenant; })) {
    return Status::NotFound(fmt::format("Tenant [{}] not found", tenant));
  }
  for (const ChromaDatabase& known : databases_) {
    if (known.tenant == tenant && known.name == database) {
      return Status::AlreadyExists(fmt::format("Database [{}] already exists", database));
    }
  }
  ChromaDatabase created{NewUuid(), tenant, database, next_order_};
  QS_ASSIGN_OR_RETURN(created.order,
                      WriteLocked({{DatabaseKey(tenant, database), DatabaseValue(created)}}, 1));
  databases_.push_back(std::move(created));
  return Status::Ok();
}

Result<std::vector<ChromaDatabase>> ChromaCatalog::ListDatabases(const std::string& tenant) {
  std::lock_guard<std::mutex> lock(mu_);
  QS_RETURN_IF_ERROR(CheckOpenLocked());
  std::vector<ChromaDatabase> found;
  for (const ChromaDatabase& known : databases_) {
    if (known.tenant == tenant) found.push_back(known);
  }
  return found;
}

Status ChromaCatalog::RemoveDatabase(const std::string& tenant, const std::string& database) {
  std::lock_guard<std::mutex> lock(mu_);
  QS_RETURN_IF_ERROR(CheckOpenLocked());
  auto it = std::find_if(databases_.begin(), databases_.end(), [&](const ChromaDatabase& known) {
    return known.tenant == tenant && known.name == database;
  });
  if (it == databases_.end()) {
    return Status::NotFound(fmt::format("Database [{}] not found", database));
  }
  std::vector<PropertyChange> changes = {{DatabaseKey(tenant, database), std::nullopt}};
  for (const ChromaCollection& collection : collections_) {
    if (collection.tenant == tenant && collection.database == database) {
      changes.push_back({CollectionKey(collection.id), std::nullopt});
    }
  }
  QS_RETURN_IF_ERROR(WriteLocked(std::move(changes), 0).status());
  databases_.erase(it);
  std::erase_if(collections_, [&](const ChromaCollection& collection) {
    return collection.tenant == tenant && collection.database == database;
  });
  return Status::Ok();
}

Result<std::optional<ChromaCollection>> ChromaCatalog::FindByName(const std::string& tenant,
                                                                  const std::string& database,
                                                                  const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  QS_RETURN_IF_ERROR(CheckOpenLocked());
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
  QS_RETURN_IF_ERROR(CheckOpenLocked());
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
  QS_RETURN_IF_ERROR(CheckOpenLocked());
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
  QS_RETURN_IF_ERROR(CheckOpenLocked());
  for (const ChromaCollection& other : collections_) {
    if (other.tenant == collection.tenant && other.database == collection.database &&
        other.name == collection.name) {
      if (existing != nullptr) *existing = other;
      return Status::AlreadyExists(fmt::format("Collection [{}] already exists", other.name));
    }
  }
  collection.id = NewUuid();
  collection.order = next_order_;
  QS_RETURN_IF_ERROR(
      WriteLocked({{CollectionKey(collection.id), CollectionValue(collection)}}, 1).status());
  collections_.push_back(collection);
  return collection;
}

Status ChromaCatalog::Update(const ChromaCollection& collection) {
  std::lock_guard<std::mutex> lock(mu_);
  QS_RETURN_IF_ERROR(CheckOpenLocked());
  auto it = std::find_if(collections_.begin(), collections_.end(),
                         [&](const ChromaCollection& c) { return c.id == collection.id; });
  if (it == collections_.end()) {
    return Status::NotFound(fmt::format("Collection [{}] does not exist", collection.id));
  }
  for (const ChromaCollection& other : collections_) {
    if (other.id != it->id && other.tenant == it->tenant && other.database == it->database &&
        other.name == collection.name) {
      return Status::AlreadyExists(fmt::format("Collection [{}] already exists", other.name));
    }
  }
  ChromaCollection updated = collection;
  updated.tenant = it->tenant;
  updated.database = it->database;
  updated.order = it->order;
  QS_RETURN_IF_ERROR(
      WriteLocked({{CollectionKey(updated.id), CollectionValue(updated)}}, 0).status());
  *it = std::move(updated);
  return Status::Ok();
}

Status ChromaCatalog::Remove(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  QS_RETURN_IF_ERROR(CheckOpenLocked());
  auto it = std::find_if(collections_.begin(), collections_.end(),
                         [&](const ChromaCollection& c) { return c.id == id; });
  if (it == collections_.end()) {
    return Status::NotFound(fmt::format("Collection [{}] does not exist", id));
  }
  QS_RETURN_IF_ERROR(WriteLocked({{CollectionKey(id), std::nullopt}}, 0).status());
  collections_.erase(it);
  return Status::Ok();
}

}  // namespace quiver::server
