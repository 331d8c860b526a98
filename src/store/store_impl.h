// Copyright (c) Quiver authors.
//
// The implementation of Store: the data directory and its LOCK, the catalog,
// the open collections, the timed checkpointer, backup and re-embedding.
// Files: store_impl.cc (open, close, the catalog, the checkpointer),
// backup.cc (Store::Backup) and reembed.cc (Store::Reembed). The directory's
// layout is named by util/layout.h; what a collection does at open is in
// collection/recovery.cc. See docs/durability.md §1, §4 and §7.

#ifndef QUIVER_STORE_STORE_IMPL_H_
#define QUIVER_STORE_STORE_IMPL_H_

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "collection/collection_impl.h"
#include "quiver/env.h"
#include "quiver/store.h"
#include "storage/database.h"
#include "util/logging.h"

namespace quiver {

/// Thread safety: every public method may be called concurrently (mu_ guards
/// the maps of collections; checkpoint_gate_ orders backups against
/// checkpoints).
class StoreImpl final : public Store {
 public:
  StoreImpl(std::string dir, const StoreOptions& options);
  ~StoreImpl() override;

  /// Opens the directory: creates it if allowed, takes the LOCK (writers
  /// only), opens SQLite, drops what an unfinished re-embedding left, removes
  /// orphan index directories, migrates old schemas, then recovers every
  /// collection unless they open lazily (docs/durability.md §4).
  Status OpenStore();

  Result<std::shared_ptr<Collection>> CreateCollection(const std::string& name,
                                                       const CollectionConfig& config) override;
  Result<std::shared_ptr<Collection>> GetCollection(const std::string& name) override;
  Result<std::shared_ptr<Collection>> OpenCollection(const std::string& name,
                                                     const CollectionConfig& config) override;
  Result<std::vector<CollectionInfo>> ListCollections() override;
  Status DropCollection(const std::string& name) override;
  Status Checkpoint() override;
  Status Backup(const std::string& dest) override;  // backup.cc
  Result<ReembedReport> Reembed(const std::string& name,
                                const ReembedOptions& options) override;  // reembed.cc
  Status Close() override;
  const std::string& dir() const override { return dir_; }

 private:
  /// Returns the loaded collection `name`, recovering it first if needed
  /// (docs/durability.md §4 steps 2-6). Caller holds mu_.
  Result<std::shared_ptr<CollectionImpl>> LoadLocked(const std::string& name);
  Status CheckOpen() const;
  /// Moves collection `entry` into quarantined_ with `reason` (logged as a
  /// warning) and returns the Corruption that GetCollection will return.
  /// Caller holds mu_ (or is OpenStore).
  Status Quarantine(storage::CatalogEntry entry, const std::string& reason);
  CollectionContext MakeContext(std::int64_t id) const;

  /// Removes index directories of collections that no longer exist (dropped
  /// by a process that crashed before deleting the files).
  Status RemoveOrphanIndexDirs(const std::vector<storage::CatalogEntry>& entries);
  /// Gives every collection of a store made before full-text search its FTS5 index.
  Status MigrateFullText(const std::vector<storage::CatalogEntry>& entries);
  /// Removes the index directory of collection id `id` and its files; logs a failure.
  void RemoveIndexDir(std::int64_t id);
  /// Background thread: checkpoints collections whose oldest unsaved change is
  /// older than checkpoint_interval_seconds. Wakes once a second.
  void CheckpointByTime();

  // backup.cc
  Status ValidateBackupTarget(const std::string& dest);
  Result<std::uint64_t> ReconcileBackupFiles(const std::string& dest,
                                             const std::vector<storage::CatalogEntry>& copied,
                                             std::uint64_t bytes);
  Result<std::uint64_t> CopyFile(const std::string& from, const std::string& to);

  // reembed.cc
  /// Drops the hidden collection `hidden_name` (a re-embedding's) if it exists.
  Status DropHiddenByName(const std::string& hidden_name);

  const std::string dir_;
  const StoreOptions options_;
  Env* const env_;
  const Log log_;
  std::unique_ptr<FileLock> lock_;
  std::unique_ptr<storage::Database> db_;
  std::mutex mu_;  // guards collections_, unloaded_, closed_, stopping_
  std::map<std::string, std::shared_ptr<CollectionImpl>> collections_;
  /// Catalog entries of collections not recovered yet (open_collections_lazily).
  std::map<std::string, storage::CatalogEntry> unloaded_;
  /// Quarantined collections: the catalog entry (its damage says why) and the
  /// error GetCollection returns.
  std::map<std::string, std::pair<storage::CatalogEntry, Status>> quarantined_;
  bool closed_ = false;
  bool stopping_ = false;  // ends the checkpointer thread
  std::condition_variable stop_cv_;
  std::thread checkpointer_;
  /// Embedders of the collections' model tags, shared with them.
  const std::shared_ptr<EmbedderCache> embedders_;
  mutable std::shared_mutex checkpoint_gate_;  // see CollectionContext::checkpoint_gate
};

}  // namespace quiver

#endif  // QUIVER_STORE_STORE_IMPL_H_
