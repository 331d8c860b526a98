// Copyright (c) Quiver authors.
//
// Store: the data directory, its LOCK, the catalog and the open collections.
// The class is declared in store_impl.h; backup.cc and reembed.cc hold
// Store::Backup and Store::Reembed.

#include "store/store_impl.h"

#include <algorithm>
#include <chrono>

#include "index/hnsw_index.h"
#include "util/crash_point.h"
#include "util/layout.h"
#include "util/logging.h"
#include "util/status_macros.h"

namespace quiver {
namespace {

/// Names the first structural difference between a stored configuration and a
/// requested one, or returns an empty string when they are compatible.
std::string ConfigDifference(const CollectionConfig& stored, const CollectionConfig& wanted) {
  auto differs = [](std::string_view field, const auto& a, const auto& b) {
    return fmt::format("{} is {} in the store, {} requested", field, a, b);
  };
  if (stored.dimensions != wanted.dimensions) {
    return differs("dimensions", stored.dimensions, wanted.dimensions);
  }
  if (stored.metric != wanted.metric) {
    return differs("metric", MetricName(stored.metric), MetricName(wanted.metric));
  }
  if (stored.scalar != wanted.scalar) {
    return differs("scalar", ScalarKindName(stored.scalar), ScalarKindName(wanted.scalar));
  }
  if (stored.connectivity != wanted.connectivity) {
    return differs("connectivity", stored.connectivity, wanted.connectivity);
  }
  if (stored.expansion_add != wanted.expansion_add) {
    return differs("expansion_add", stored.expansion_add, wanted.expansion_add);
  }
  if (stored.model_id != wanted.model_id || stored.model_version != wanted.model_version) {
    return differs("embedding model", "'" + stored.model_id + "@" + stored.model_version + "'",
                   "'" + wanted.model_id + "@" + wanted.model_version + "'");
  }
  return {};
}

}  // namespace

StoreImpl::StoreImpl(std::string dir, const StoreOptions& options)
    : dir_(std::move(dir)),
      options_(options),
      env_(options.env ? options.env : Env::Default()),
      log_(options.logger),
      embedders_(std::make_shared<EmbedderCache>(options.embedder_resolver)) {}

StoreImpl::~StoreImpl() {
  Status s = Close();
  if (!s.ok()) log_.Error("closing store {}: {}", dir_, s.ToString());
}

Status StoreImpl::OpenStore() {
  const auto start = std::chrono::steady_clock::now();
  const std::string db_path = layout::DatabasePath(dir_);
  if (!env_->FileExists(db_path)) {
    if (!options_.create_if_missing || options_.read_only) {
      return Status::NotFound(
          fmt::format("no Quiver store in {} ({} is missing)", dir_, layout::kDatabaseFileName));
    }
    QUIVER_RETURN_IF_ERROR(env_->CreateDirs(dir_));
  }
  if (!options_.read_only) {
    QUIVER_ASSIGN_OR_RETURN(lock_, env_->LockFile(layout::LockPath(dir_)));
  }
  QUIVER_ASSIGN_OR_RETURN(
      db_, storage::Database::Open(db_path, options_.read_only, options_.synchronous));
  QUIVER_ASSIGN_OR_RETURN(auto entries, db_->ListCollections());
  // Hidden collections of a re-embedding that did not finish: before its
  // swap the old collection is in charge ("#reembed:" is dropped), after it
  // the new one ("#retired:" is dropped). A read-only open just skips them.
  for (auto it = entries.begin(); it != entries.end();) {
    if (it->name.empty() || it->name[0] != '#') {
      ++it;
      continue;
    }
    if (!options_.read_only) {
      log_.Warn("dropping '{}', left by a re-embedding that did not finish", it->name);
      QUIVER_RETURN_IF_ERROR(db_->DropCollection(it->id));
    }
    it = entries.erase(it);
  }
  if (!options_.read_only) {
    QUIVER_RETURN_IF_ERROR(RemoveOrphanIndexDirs(entries));
    QUIVER_RETURN_IF_ERROR(MigrateFullText(entries));
  }

  for (auto& entry : entries) {
    const std::string name = entry.name;
    if (!entry.damage.empty()) {
      const std::string reason = entry.damage;
      (void)Quarantine(std::move(entry), reason);
      continue;
    }
    unloaded_.emplace(name, std::move(entry));
    if (!options_.open_collections_lazily) {
      // A damaged collection is quarantined (LoadLocked); only an I/O error,
      // which says nothing about this collection alone, fails the open.
      auto loaded = LoadLocked(name);
      if (!loaded.ok() && loaded.status().code() == StatusCode::kIOError) {
        return loaded.status();
      }
    }
  }
  if (!options_.read_only && options_.checkpoint_interval_seconds > 0) {
    checkpointer_ = std::thread([this] { CheckpointByTime(); });
  }
  log_.Info("opened store {}{} with {} collections in {:.0f} ms (SIMD: {})", dir_,
            options_.read_only ? " read-only" : "", collections_.size() + unloaded_.size(),
            MillisSince(start), index::SimdCapabilities());
  return Status::Ok();
}

Result<std::shared_ptr<Collection>> StoreImpl::CreateCollection(const std::string& name,
                                                                const CollectionConfig& config) {
  QUIVER_RETURN_IF_ERROR(ValidateCollectionName(name));
  QUIVER_RETURN_IF_ERROR(config.Validate());
  std::lock_guard<std::mutex> lock(mu_);
  QUIVER_RETURN_IF_ERROR(CheckOpen());
  if (options_.read_only) return Status::NotSupported("the store is open read-only");
  if (collections_.count(name) || unloaded_.count(name) || quarantined_.count(name)) {
    return Status::AlreadyExists("collection '" + name + "' already exists");
  }
  QUIVER_ASSIGN_OR_RETURN(auto entry, db_->CreateCollection(name, config));
  RecoveryReport report;
  QUIVER_ASSIGN_OR_RETURN(auto collection,
                          CollectionImpl::Open(MakeContext(entry.id), std::move(entry), &report));
  collections_.emplace(name, collection);
  log_.Info("created collection '{}' ({})", name, config.ToString());
  if (config.scalar == ScalarKind::kI8 && config.metric != Metric::kCos) {
    log_.Warn(
        "collection '{}': scalar i8 keeps only each vector's direction (USearch scales "
        "every vector to unit length before quantizing), so with metric {} its distances "
        "are right only for unit-length embeddings; use f16 or bf16 otherwise",
        name, MetricName(config.metric));
  }
  return std::shared_ptr<Collection>(collection);
}

Result<std::shared_ptr<Collection>> StoreImpl::GetCollection(const std::string& name) {
  QUIVER_RETURN_IF_ERROR(ValidateCollectionName(name));
  std::lock_guard<std::mutex> lock(mu_);
  QUIVER_RETURN_IF_ERROR(CheckOpen());
  QUIVER_ASSIGN_OR_RETURN(auto collection, LoadLocked(name));
  return std::shared_ptr<Collection>(std::move(collection));
}

Result<std::shared_ptr<Collection>> StoreImpl::OpenCollection(const std::string& name,
                                                              const CollectionConfig& config) {
  QUIVER_RETURN_IF_ERROR(config.Validate());
  auto existing = GetCollection(name);
  if (existing.status().code() == StatusCode::kNotFound) {
    auto created = CreateCollection(name, config);
    // Lost a race with another creator: fall through to the comparison.
    if (created.status().code() != StatusCode::kAlreadyExists) return created;
    existing = GetCollection(name);
  }
  if (!existing.ok()) return existing.status();
  const std::string difference = ConfigDifference((*existing)->config(), config);
  if (!difference.empty()) {
    return Status::FailedPrecondition(fmt::format(
        "collection '{}' cannot be opened with this configuration: {}. Stored: {}; requested: "
        "{}. Embeddings of another model or shape need a new collection: create one (quiver "
        "create --collection NEW ...) and re-import, or drop this one (quiver drop "
        "--collection {}) first.",
        name, difference, (*existing)->config().ToString(), config.ToString(), name));
  }
  return existing;
}

Result<std::vector<CollectionInfo>> StoreImpl::ListCollections() {
  std::lock_guard<std::mutex> lock(mu_);
  QUIVER_RETURN_IF_ERROR(CheckOpen());
  std::vector<CollectionInfo> out;
  for (const auto& [name, collection] : collections_) {
    out.push_back({collection->id(), name, collection->config(), {}});
  }
  for (const auto& [name, entry] : unloaded_) out.push_back({entry.id, name, entry.config, {}});
  for (const auto& [name, quarantined] : quarantined_) {
    const storage::CatalogEntry& entry = quarantined.first;
    out.push_back({entry.id, name, entry.config, entry.damage});
  }
  std::sort(out.begin(), out.end(),
            [](const CollectionInfo& a, const CollectionInfo& b) { return a.name < b.name; });
  return out;
}

Status StoreImpl::DropCollection(const std::string& name) {
  QUIVER_RETURN_IF_ERROR(ValidateCollectionName(name));
  std::lock_guard<std::mutex> lock(mu_);
  QUIVER_RETURN_IF_ERROR(CheckOpen());
  if (options_.read_only) return Status::NotSupported("the store is open read-only");
  std::int64_t id = 0;
  if (auto quarantined = quarantined_.find(name); quarantined != quarantined_.end()) {
    id = quarantined->second.first.id;
    QUIVER_RETURN_IF_ERROR(db_->DropCollection(id));
    quarantined_.erase(quarantined);
  } else if (auto unloaded = unloaded_.find(name); unloaded != unloaded_.end()) {
    id = unloaded->second.id;
    QUIVER_RETURN_IF_ERROR(db_->DropCollection(id));
    unloaded_.erase(unloaded);
  } else {
    auto it = collections_.find(name);
    if (it == collections_.end()) {
      return Status::NotFound("collection '" + name + "' does not exist");
    }
    std::shared_ptr<CollectionImpl> collection = it->second;
    collection->MarkDropped();  // waits for a write in flight
    id = collection->id();
    QUIVER_RETURN_IF_ERROR(db_->DropCollection(id));
    collections_.erase(it);
  }
  // Files after the catalog commit: a crash in between leaves an orphan
  // directory, which the next open removes.
  RemoveIndexDir(id);
  log_.Info("dropped collection '{}'", name);
  return Status::Ok();
}

Status StoreImpl::Checkpoint() {
  std::vector<std::shared_ptr<CollectionImpl>> all;
  {
    std::lock_guard<std::mutex> lock(mu_);
    QUIVER_RETURN_IF_ERROR(CheckOpen());
    if (options_.read_only) return Status::NotSupported("the store is open read-only");
    for (auto& [name, c] : collections_) all.push_back(c);
  }
  Status first_error;
  for (auto& c : all) {
    Status s = c->Checkpoint();
    if (!s.ok() && first_error.ok()) first_error = s;
  }
  return first_error;
}

Status StoreImpl::Close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  stop_cv_.notify_all();
  if (checkpointer_.joinable()) checkpointer_.join();
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return Status::Ok();
  closed_ = true;
  Status first_error;
  for (auto& [name, c] : collections_) {
    if (!options_.read_only && options_.checkpoint_on_close && c->dirty()) {
      Status s = c->Checkpoint();
      if (!s.ok()) {
        log_.Error(
            "collection '{}': checkpoint on close failed: {} (the change log will be "
            "replayed on next open)",
            name, s.ToString());
        if (first_error.ok()) first_error = s;
      }
    }
    c->MarkClosed();
  }
  if (db_ && !options_.read_only) {
    Status s = db_->CheckpointWal();
    if (!s.ok()) log_.Warn("SQLite WAL checkpoint on close: {}", s.ToString());
  }
  collections_.clear();
  unloaded_.clear();
  db_.reset();
  lock_.reset();
  return first_error;
}

/// Returns the loaded collection `name`, recovering it first if needed
/// (docs/durability.md §4 steps 2-6). Caller holds mu_.
Result<std::shared_ptr<CollectionImpl>> StoreImpl::LoadLocked(const std::string& name) {
  if (auto it = collections_.find(name); it != collections_.end()) return it->second;
  if (auto it = quarantined_.find(name); it != quarantined_.end()) return it->second.second;
  auto unloaded = unloaded_.find(name);
  if (unloaded == unloaded_.end()) {
    return Status::NotFound("collection '" + name + "' does not exist");
  }
  const std::int64_t id = unloaded->second.id;
  if (options_.check_records_at_open) {
    if (Status s = db_->QuickCheckRecords(id); !s.ok()) {
      storage::CatalogEntry entry = std::move(unloaded->second);
      unloaded_.erase(unloaded);
      return Quarantine(std::move(entry), s.message());
    }
  }
  RecoveryReport report;
  auto collection = CollectionImpl::Open(MakeContext(id), unloaded->second, &report);
  if (!collection.ok()) {
    if (collection.status().code() == StatusCode::kIOError) {
      return collection.status().WithContext("opening collection '" + name + "'");
    }
    storage::CatalogEntry entry = std::move(unloaded->second);
    unloaded_.erase(unloaded);
    return Quarantine(std::move(entry), "its recovery failed: " + collection.status().ToString());
  }
  log_.Info(
      "collection '{}': {} vectors {} in {:.0f} ms, {} changes replayed in {:.0f} ms, {} "
      "leftover files removed",
      name, report.vectors_loaded,
      report.rebuilt ? "rebuilt from SQLite" : (report.mapped ? "mapped" : "loaded"),
      report.load_ms, report.changes_replayed, report.replay_ms, report.files_removed);
  unloaded_.erase(unloaded);
  return collections_.emplace(name, std::move(collection).value()).first->second;
}

Status StoreImpl::Quarantine(storage::CatalogEntry entry, const std::string& reason) {
  const std::string name = entry.name;
  entry.damage = reason;
  Status error = Status::Corruption(fmt::format(
      "collection '{}' is quarantined: {}. Its records are not served (the other collections "
      "are). Restore the store from a backup, or drop the collection (quiver drop --collection "
      "{}) and import it again",
      name, reason, name));
  log_.Warn("collection '{}' is quarantined: {}; the store serves the other collections", name,
            reason);
  quarantined_.insert_or_assign(name, std::make_pair(std::move(entry), error));
  return error;
}

/// Background thread: checkpoints collections whose oldest unsaved change is
/// older than checkpoint_interval_seconds. Wakes once a second.
void StoreImpl::CheckpointByTime() {
  const auto interval = std::chrono::seconds(options_.checkpoint_interval_seconds);
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    stop_cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; });
    if (stopping_) break;
    std::vector<std::shared_ptr<CollectionImpl>> due;
    for (auto& [name, c] : collections_) {
      if (c->DirtyFor(interval)) due.push_back(c);
    }
    lock.unlock();
    for (auto& c : due) {
      Status s = c->Checkpoint();
      if (!s.ok())
        log_.Error("collection '{}': timed checkpoint failed: {}", c->name(), s.ToString());
    }
    lock.lock();
  }
}

Status StoreImpl::CheckOpen() const {
  return closed_ ? Status::FailedPrecondition("the store " + dir_ + " is closed") : Status::Ok();
}

CollectionContext StoreImpl::MakeContext(std::int64_t id) const {
  CollectionContext c;
  c.env = env_;
  c.db = db_.get();
  c.log = &log_;
  c.index_dir = layout::IndexDir(dir_, id);
  c.read_only = options_.read_only;
  c.checkpoint_gate = &checkpoint_gate_;
  c.checkpoint_every_changes = options_.checkpoint_every_changes;
  const std::size_t hw = std::max(1u, std::thread::hardware_concurrency());
  c.search_threads = options_.max_concurrent_searches > 0 ? options_.max_concurrent_searches
                                                          : std::max<std::size_t>(4, 2 * hw);
  c.add_threads = options_.insert_threads > 0 ? options_.insert_threads : hw;
  c.embedders = embedders_;
  return c;
}

/// Removes index directories of collections that no longer exist (dropped
/// by a process that crashed before deleting the files). Names that are not
/// a collection id are not Quiver's: they are left alone, with a warning.
Status StoreImpl::RemoveOrphanIndexDirs(const std::vector<storage::CatalogEntry>& entries) {
  const std::string root = layout::IndexesDir(dir_);
  QUIVER_RETURN_IF_ERROR(env_->CreateDirs(root));
  QUIVER_ASSIGN_OR_RETURN(auto names, env_->ListDir(root));
  for (const std::string& name : names) {
    const std::optional<std::int64_t> id = layout::ParseIndexDirName(name);
    if (!id) {
      log_.Warn("{}/{}: not an index directory of this store; left alone", root, name);
      continue;
    }
    bool live =
        std::any_of(entries.begin(), entries.end(), [&](const auto& e) { return e.id == *id; });
    if (!live) RemoveIndexDir(*id);
  }
  return Status::Ok();
}

/// Gives every collection of a store made before full-text search its
/// FTS5 index (docs/durability.md §4 step 2; one transaction per
/// collection, so a crash leaves the old schema and the next open redoes
/// it). Cost: one pass over the record texts of each such collection.
Status StoreImpl::MigrateFullText(const std::vector<storage::CatalogEntry>& entries) {
  QUIVER_ASSIGN_OR_RETURN(auto built, db_->EnsureFullTextIndexes());
  for (const storage::FullTextMigration& m : built) {
    std::string name = "id " + std::to_string(m.collection_id);
    for (const auto& e : entries) {
      if (e.id == m.collection_id) name = e.name;
    }
    log_.Info(
        "collection '{}': built its full-text index (store made before full-text search): {} "
        "records indexed in {:.0f} ms",
        name, m.records, m.ms);
  }
  return Status::Ok();
}

void StoreImpl::RemoveIndexDir(std::int64_t id) {
  const std::string path = layout::IndexDir(dir_, id);
  auto files = env_->ListDir(path);
  if (!files.ok()) return;
  for (const std::string& file : *files) (void)env_->RemoveFile(path + "/" + file);
  Status s = env_->RemoveDir(path);
  if (s.ok()) {
    log_.Info("removed index directory {}", path);
  } else {
    log_.Warn("could not remove index directory {}: {}", path, s.ToString());
  }
}

Result<std::unique_ptr<Store>> Store::Open(const std::string& dir, const StoreOptions& options) {
  if (dir.empty()) return Status::InvalidArgument("data directory: empty path");
  auto store = std::make_unique<StoreImpl>(dir, options);
  Status s = store->OpenStore();
  if (!s.ok()) return s;
  return std::unique_ptr<Store>(std::move(store));
}

Result<std::vector<Match>> Collection::Search(const std::vector<float>& query,
                                              const SearchOptions& options) {
  if (query.size() != config().dimensions) {
    return Status::InvalidArgument("query: " + std::to_string(query.size()) + " values; expected " +
                                   std::to_string(config().dimensions) +
                                   " (the collection's dimensions)");
  }
  QUIVER_ASSIGN_OR_RETURN(auto results, Search(query.data(), 1, options));
  return std::move(results.front());
}

std::string SimdCapabilities() { return index::SimdCapabilities(); }
std::string Version() { return QUIVER_VERSION_STRING; }
std::string UsearchVersion() { return index::UsearchVersion(); }

}  // namespace quiver
