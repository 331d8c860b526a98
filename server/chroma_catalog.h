// Copyright (c) Quiver authors.
//
// The Chroma catalog: THE one place that maps Chroma's names onto Quiver's.
//
//   Chroma                                   Quiver
//   tenant, database                         (only here: Quiver has one namespace)
//   collection (UUID, tenant, database,      the Quiver collection "chroma-<UUID>",
//     name, metadata, configuration)           created on the first add (Chroma
//                                              collections have no dimensions until then)
//   hnsw space l2 / cosine / ip              metric l2sq / cos / ip (same distances)
//   hnsw max_neighbors / ef_construction /   connectivity / expansion_add /
//     ef_search                                expansion_search (ef_search is passed with
//                                              each query, so a modify changes it at once)
//   record id (string)                       Record::id, key KeyForStringId(id)
//   document                                 Record::text
//   metadata                                 Record::metadata
//   insertion order (get without ids)        ScanOrder::kInsertion
//
// Persistence: the store's properties (Store::SetProperties), in SQLite with
// everything else, so `quiver backup` carries the catalog and a crash leaves
// either a whole change or none. One property per entry, prefix "chroma/":
//
//   chroma/version                      "1" (written when the catalog is first created)
//   chroma/next_order                   creation counter, for the listing orders
//   chroma/tenant/<tenant>              {"order": n}
//   chroma/database/<tenant>/<database> {"id": "<uuid>", "order": n}
//   chroma/collection/<uuid>            {"tenant", "database", "name", "metadata",
//                                        "configuration", "metric", "connectivity",
//                                        "expansion_add", "expansion_search", "order"}
//
// Tenant and database names are [A-Za-z0-9_.-], so "/" separates them. The
// whole catalog is read once, at Open, and kept in memory; every change is
// written first (one all-or-nothing SetProperties) and applied to memory after.
//
// Before this, the catalog was a JSON file, <data dir>/chroma-catalog.json;
// Open imports such a file once and then removes it.
//
// Crash order: creating writes the catalog before any data; deleting (a
// collection, or a database with its collections) drops the Quiver collections
// first and the catalog entries after, so a crash in between leaves entries
// whose collection is missing, which read as empty.
//
// Thread safety: all methods may be called concurrently, after Open.

#ifndef QUIVER_SERVER_CHROMA_CATALOG_H_
#define QUIVER_SERVER_CHROMA_CATALOG_H_

#include <array>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "quiver/options.h"
#include "quiver/status.h"
#include "quiver/store.h"

namespace quiver::server {

/// The tenant and the database that a new catalog starts with (Chroma's defaults).
inline constexpr char kChromaDefaultTenant[] = "default_tenant";
inline constexpr char kChromaDefaultDatabase[] = "default_database";
/// The id Chroma gives the default database.
inline constexpr char kChromaDefaultDatabaseId[] = "00000000-0000-0000-0000-000000000000";

/// Chroma's defaults for an HNSW collection's settings (what it reports when
/// the configuration leaves them out).
inline constexpr std::uint32_t kChromaDefaultMaxNeighbors = 16;
inline constexpr std::uint32_t kChromaDefaultEfConstruction = 100;
inline constexpr std::uint32_t kChromaDefaultEfSearch = 100;

/// One Chroma database.
struct ChromaDatabase {
  std::string id;  // UUID
  std::string tenant;
  std::string name;
  std::uint64_t order = 0;  // creation order
};

/// One Chroma collection.
struct ChromaCollection {
  std::string id;  // UUID, lower-case, 8-4-4-4-12
  std::string tenant;
  std::string database;
  std::string name;
  /// The collection's metadata as JSON text: an object, or "null".
  std::string metadata_json = "null";
  /// Chroma's configuration_json as reported (an object; hnsw settings filled in).
  std::string configuration_json = "{}";
  /// The Quiver collection's configuration (dimensions 0 until the first add).
  Metric metric = Metric::kL2sq;
  std::uint32_t connectivity = kChromaDefaultMaxNeighbors;
  std::uint32_t expansion_add = kChromaDefaultEfConstruction;
  std::uint32_t expansion_search = kChromaDefaultEfSearch;
  std::uint64_t order = 0;  // creation order

  /// The Quiver collection that holds the records: "chroma-<id>".
  std::string QuiverName() const { return "chroma-" + id; }
};

class ChromaCatalog {
 public:
  ChromaCatalog() = default;

  /// Reads the catalog from `store`'s properties (creating it, with the default tenant and
  /// database, on a writable store that has none). If `legacy_file` exists, imports it
  /// first (unless the properties already hold a catalog, which then wins) and removes it,
  /// logging what happened. `store` must outlive the catalog's use (see Close).
  /// Errors: Corruption (a malformed legacy file or property; the file is left in place),
  /// IOError, the store's errors.
  Status Open(Store* store, const std::string& legacy_file, const Logger& logger);
  /// Forgets the store (before it closes); later calls fail with FailedPrecondition.
  void Close();

  /// True if the tenant exists.
  Result<bool> HasTenant(const std::string& tenant);
  /// Creates a tenant; AlreadyExists if it exists.
  Status CreateTenant(const std::string& tenant);

  /// The database, or nullopt.
  Result<std::optional<ChromaDatabase>> FindDatabase(const std::string& tenant,
                                                     const std::string& database);
  /// Creates a database; NotFound without the tenant, AlreadyExists if it exists.
  Status CreateDatabase(const std::string& tenant, const std::string& database);
  /// The tenant's databases in creation order.
  Result<std::vector<ChromaDatabase>> ListDatabases(const std::string& tenant);
  /// Removes the database and every collection entry in it, in one change (NotFound if
  /// there is no such database). The caller drops the collections' records first.
  Status RemoveDatabase(const std::string& tenant, const std::string& database);

  /// The collection `name` of the database, or nullopt.
  Result<std::optional<ChromaCollection>> FindByName(const std::string& tenant,
                                                     const std::string& database,
                                                     const std::string& name);
  /// The collection with this UUID in the database, or nullopt.
  Result<std::optional<ChromaCollection>> FindById(const std::string& tenant,
                                                   const std::string& database,
                                                   const std::string& id);
  /// The database's collections in creation order.
  Result<std::vector<ChromaCollection>> List(const std::string& tenant,
                                             const std::string& database);
  /// Adds `collection` (its id and order are assigned here) durably; AlreadyExists if the
  /// database has a collection of that name (then `existing` is set to it).
  Result<ChromaCollection> Create(ChromaCollection collection,
                                  std::optional<ChromaCollection>* existing);
  /// Replaces the entry with `collection.id` (name, metadata, configuration; the tenant,
  /// database and order are kept). NotFound if it is gone, AlreadyExists if another
  /// collection of the database has the new name.
  Status Update(const ChromaCollection& collection);
  /// Removes the collection with this id durably (NotFound if there is none).
  Status Remove(const std::string& id);

  /// Held while a Chroma collection's Quiver collection is created (first add) or dropped
  /// (delete), so that an add racing a delete cannot re-create the records of a collection that
  /// is gone (an orphan nobody could reach).
  std::mutex& structure_mutex() { return structure_mu_; }

  /// Held by a write that reads records and writes them back (add skips stored ids, upsert and
  /// update merge into them), so that two such writes to one collection do not interleave.
  /// Striped: collections may share one.
  std::mutex& write_mutex(const std::string& collection_id) {
    return write_mu_[std::hash<std::string>{}(collection_id) % write_mu_.size()];
  }

 private:
  // FailedPrecondition unless Open succeeded and Close was not called. Needs mu_.
  Status CheckOpenLocked() const;
  // Writes `changes` plus the next order counter when `orders` > 0; returns the first order.
  Result<std::uint64_t> WriteLocked(std::vector<PropertyChange> changes, std::uint64_t orders);
  // Imports the legacy JSON file `path` into the (empty) properties. Needs mu_.
  Status ImportLegacyLocked(const std::string& path, const Logger& logger);

  std::mutex structure_mu_;              // see structure_mutex(); taken before mu_, never after
  std::array<std::mutex, 64> write_mu_;  // see write_mutex(); taken before mu_, never after
  std::mutex mu_;
  Store* store_ = nullptr;
  bool read_only_defaults_ = false;  // a read-only store without a catalog: defaults only
  std::uint64_t next_order_ = 1;
  std::vector<std::pair<std::string, std::uint64_t>> tenants_;  // (name, order)
  std::vector<ChromaDatabase> databases_;                       // in creation order
  std::vector<ChromaCollection> collections_;                   // in creation order
};

/// A fresh random UUID (version 4), lower-case.
std::string NewUuid();

/// True if `text` is a UUID of the form Chroma's collection ids have (8-4-4-4-12 hex digits).
bool IsUuid(std::string_view text);

}  // namespace quiver::server

#endif  // QUIVER_SERVER_CHROMA_CATALOG_H_
