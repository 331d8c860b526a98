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
//     ef_search                                expansion_search
//   record id (string)                       Record::id, key KeyForStringId(id)
//   document                                 Record::text
//   metadata                                 Record::metadata
//
// Persistence: a JSON file, <data dir>/chroma-catalog.json, rewritten whole
// and atomically (write a temporary file, fsync, rename over, fsync the
// directory) on every change. Why a file and not a reserved Quiver collection:
// a collection needs dimensions and an embedding per record, and would show in
// every listing of the native API; the catalog is small (one entry per Chroma
// collection) and changes only when a collection, tenant or database is
// created or deleted, so a whole-file rewrite is cheap and a crash leaves
// either the old or the new file, never a torn one.
//
// Crash order: creating writes the catalog before any data; deleting drops the
// Quiver collection first and the catalog entry after, so a crash in between
// leaves an entry whose collection is missing, which reads as empty.
//
// Thread safety: all methods may be called concurrently.

#ifndef QUIVER_SERVER_CHROMA_CATALOG_H_
#define QUIVER_SERVER_CHROMA_CATALOG_H_

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "quiver/options.h"
#include "quiver/status.h"

namespace quiver::server {

/// The tenant and the database that always exist (Chroma's defaults).
inline constexpr char kChromaDefaultTenant[] = "default_tenant";
inline constexpr char kChromaDefaultDatabase[] = "default_database";

/// One Chroma collection.
struct ChromaCollection {
  std::string id;  // UUID, lower-case, 8-4-4-4-12
  std::string tenant;
  std::string database;
  std::string name;
  /// The collection's metadata as JSON text: an object, or "null".
  std::string metadata_json = "null";
  /// Chroma's configuration_json as given (an object; hnsw.space filled in).
  std::string configuration_json = "{}";
  /// The Quiver collection's configuration (dimensions 0 until the first add).
  Metric metric = Metric::kL2sq;
  std::uint32_t connectivity = 16;
  std::uint32_t expansion_add = 128;
  std::uint32_t expansion_search = 64;

  /// The Quiver collection that holds the records: "chroma-<id>".
  std::string QuiverName() const { return "chroma-" + id; }
};

class ChromaCatalog {
 public:
  /// A catalog kept in `path` (read on first use, created on first change).
  explicit ChromaCatalog(std::string path) : path_(std::move(path)) {}

  /// True if the tenant exists (the default one always does).
  Result<bool> HasTenant(const std::string& tenant);
  /// Creates a tenant; AlreadyExists if it exists.
  Status CreateTenant(const std::string& tenant);
  /// True if the database exists in the tenant.
  Result<bool> HasDatabase(const std::string& tenant, const std::string& database);
  /// Creates a database; NotFound without the tenant, AlreadyExists if it exists.
  Status CreateDatabase(const std::string& tenant, const std::string& database);

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
  /// Adds `collection` (its id is assigned here) durably; AlreadyExists if the
  /// database has a collection of that name (then `existing` is set to it).
  Result<ChromaCollection> Create(ChromaCollection collection,
                                  std::optional<ChromaCollection>* existing);
  /// Removes the collection with this id durably (NotFound if there is none).
  Status Remove(const std::string& id);

  /// Held while a Chroma collection's Quiver collection is created (first add) or dropped
  /// (delete), so that an add racing a delete cannot re-create the records of a collection that
  /// is gone (an orphan nobody could reach).
  std::mutex& structure_mutex() { return structure_mu_; }

 private:
  // Reads the file on first use. Needs mu_.
  Status LoadLocked();
  // Writes the whole catalog atomically. Needs mu_.
  Status SaveLocked() const;

  const std::string path_;
  std::mutex structure_mu_;  // see structure_mutex(); taken before mu_, never after
  std::mutex mu_;
  bool loaded_ = false;
  std::vector<std::string> tenants_;                            // besides the default
  std::vector<std::pair<std::string, std::string>> databases_;  // besides the default
  std::vector<ChromaCollection> collections_;                   // in creation order
};

/// A fresh random UUID (version 4), lower-case.
std::string NewUuid();

}  // namespace quiver::server

#endif  // QUIVER_SERVER_CHROMA_CATALOG_H_
