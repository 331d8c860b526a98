// Copyright (c) Quiver authors.
//
// A store: one directory on disk holding collections.
//
//   <dir>/quiver.db                          SQLite (WAL): catalog, records, change log
//   <dir>/LOCK                               flock'ed by the one writer process
//   <dir>/indexes/<collection-id>/<generation>.usearch   HNSW checkpoints (derived)
//
// See docs/architecture.md and docs/durability.md for the full contract.

#ifndef QUIVER_STORE_H_
#define QUIVER_STORE_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "quiver/collection.h"
#include "quiver/embedder.h"
#include "quiver/options.h"
#include "quiver/status.h"

namespace quiver {

/// Catalog entry of a collection.
struct CollectionInfo {
  std::int64_t id = 0;
  std::string name;
  CollectionConfig config;
  /// Empty for a collection that opened. Otherwise the collection is
  /// quarantined and this says why (its catalog row fails its checksum, its
  /// records table fails SQLite's check, or its recovery failed): its records
  /// are not served, GetCollection returns Corruption with this reason, and
  /// DropCollection removes it (docs/durability.md §4).
  std::string damage;
};

/// Options of Store::Reembed.
struct ReembedOptions {
  /// The new embedding model; required. Its dimensions and metric may differ
  /// from the collection's.
  std::shared_ptr<Embedder> embedder;
  /// Records without text cannot be re-embedded. false (default): Reembed
  /// refuses (FailedPrecondition naming how many and the first keys) before
  /// anything is written; true: they are left out of the re-embedded
  /// collection, that is deleted, and counted in the report.
  bool drop_records_without_text = false;
  /// Called from the re-embedding thread with (records embedded, total)
  /// after every batch. May be empty.
  std::function<void(std::uint64_t done, std::uint64_t total)> progress;
};

/// What Store::Reembed did.
struct ReembedReport {
  std::uint64_t records = 0;
  std::uint64_t dropped_without_text = 0;
  /// The configuration now in charge (the new model's tag, dimensions, metric).
  CollectionConfig config;
  double seconds = 0;
};

/// Returns InvalidArgument unless `name` is 1..64 characters of [A-Za-z0-9_-].
Status ValidateCollectionName(std::string_view name);

/// A store of collections. Thread safety: all methods may be called
/// concurrently. Destroying the store closes it (see Close).
class Store {
 public:
  /// Opens (or creates, per options) the store in directory `dir`. Takes the
  /// LOCK (Busy if another process holds it; read-only opens take none),
  /// checks the catalog tables with SQLite's quick_check, then recovers every
  /// collection: removes leftover temporary and orphaned index files, loads
  /// and verifies each checkpoint (rebuilding a missing or corrupt one from
  /// SQLite, with a warning), and replays the change log. A collection whose
  /// catalog row or records are damaged, or whose recovery fails other than
  /// with IOError, is quarantined (CollectionInfo::damage, a warning in the
  /// log) and the store opens with the others.
  /// Errors: NotFound (missing and !create_if_missing), Busy, IOError,
  /// Corruption (the SQLite file or its catalog tables are damaged).
  static Result<std::unique_ptr<Store>> Open(const std::string& dir, const StoreOptions& options);

  virtual ~Store() = default;

  /// Creates a collection. InvalidArgument (bad name or config), AlreadyExists.
  virtual Result<std::shared_ptr<Collection>> CreateCollection(const std::string& name,
                                                               const CollectionConfig& config) = 0;

  /// Returns an existing collection. NotFound (naming it) when there is none;
  /// Corruption, with the reason, when it is quarantined.
  virtual Result<std::shared_ptr<Collection>> GetCollection(const std::string& name) = 0;

  /// Returns the collection `name`, creating it with `config` if it does not
  /// exist. If it exists, its stored configuration must match `config` in
  /// dimensions, metric, scalar kind, connectivity, expansion_add and model tag
  /// (expansion_search may differ: it is a search-time default); otherwise
  /// FailedPrecondition with a message naming both values and the rebuild
  /// command (invariant I6).
  virtual Result<std::shared_ptr<Collection>> OpenCollection(const std::string& name,
                                                             const CollectionConfig& config) = 0;

  /// All collections, ordered by name, quarantined ones included (with their damage).
  virtual Result<std::vector<CollectionInfo>> ListCollections() = 0;

  /// Deletes a collection, its records and its index files (a quarantined one
  /// too). Existing handles then fail with NotFound. NotFound if it does not exist.
  virtual Status DropCollection(const std::string& name) = 0;

  /// Checkpoints every collection with unsaved changes.
  virtual Status Checkpoint() = 0;

  /// Writes a consistent copy of the store into `dest_dir` while the store
  /// stays in use: the checkpoint files the manifests name first, then the
  /// database through SQLite's online backup API, with checkpoints held off in
  /// between so that the copy's manifests name exactly the copied files. The
  /// copy holds every record committed before Backup began, opens as a normal
  /// store, and passes Verify. `dest_dir` must not exist or be empty
  /// (AlreadyExists otherwise). Cost: reads and writes the store's size once.
  virtual Status Backup(const std::string& dest_dir) = 0;

  /// Re-embeds every record of collection `name` with another model: reads
  /// each record's text, embeds it with options.embedder into a new, hidden
  /// collection (new embeddings in SQLite, a new index and checkpoint; the
  /// dimensions may change), then swaps it in for the old one in one SQLite
  /// transaction and drops the old one (docs/text.md §Re-embedding). Keys,
  /// ids, texts and metadata are kept; index parameters (scalar, M, ef) too.
  /// Searches keep using the old model until the swap; writes to the
  /// collection wait for the whole re-embedding. A crash before the swap
  /// leaves the old collection in charge (the next open removes the hidden
  /// one); after it, the new one. Handles obtained before the swap then fail
  /// with NotFound: get the collection again. Errors: NotFound,
  /// InvalidArgument (no embedder), FailedPrecondition (records without text,
  /// unless drop_records_without_text), the embedder's errors (nothing
  /// changes), IOError.
  virtual Result<ReembedReport> Reembed(const std::string& name, const ReembedOptions& options) = 0;

  /// Checkpoints (if StoreOptions::checkpoint_on_close) and releases the LOCK.
  /// Later calls on the store or its collections fail with FailedPrecondition.
  /// Idempotent. The destructor calls it and logs a failure.
  virtual Status Close() = 0;

  /// The directory this store was opened on.
  virtual const std::string& dir() const = 0;
};

/// The SIMD capabilities NumKong detected on this CPU and compiled in,
/// e.g. "serial haswell skylake icelake" (for logs and `quiver stats`).
std::string SimdCapabilities();

/// Quiver's version, e.g. "0.1.0", and the USearch version it was built with.
std::string Version();
std::string UsearchVersion();

}  // namespace quiver

#endif  // QUIVER_STORE_H_
