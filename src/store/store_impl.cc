// Copyright (c) Quiver authors.
//
// Store: the data directory, its LOCK, the catalog and the open collections.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include "collection/collection_impl.h"
#include "index/hnsw_index.h"
#include "quiver/store.h"
#include "storage/database.h"
#include "util/crash_point.h"
#include "util/logging.h"
#include "util/status_macros.h"

namespace quiver {
namespace {

constexpr const char* kDatabaseFile = "quiver.db";
constexpr const char* kLockFile = "LOCK";
constexpr const char* kIndexesDir = "indexes";

double MillisSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

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

class StoreImpl final : public Store {
 public:
  StoreImpl(std::string dir, const StoreOptions& options)
      : dir_(std::move(dir)),
        options_(options),
        env_(options.env ? options.env : Env::Default()),
        log_(options.logger) {}

  ~StoreImpl() override {
    Status s = Close();
    if (!s.ok()) log_.Error("closing store {}: {}", dir_, s.ToString());
  }

  Status OpenStore() {
    const auto start = std::chrono::steady_clock::now();
    const std::string db_path = dir_ + "/" + kDatabaseFile;
    if (!env_->FileExists(db_path)) {
      if (!options_.create_if_missing || options_.read_only) {
        return Status::NotFound("no Quiver store in " + dir_ + " (" + kDatabaseFile +
                                " is missing)");
      }
      QUIVER_RETURN_IF_ERROR(env_->CreateDirs(dir_));
    }
    if (!options_.read_only) {
      QUIVER_ASSIGN_OR_RETURN(lock_, env_->LockFile(dir_ + "/" + kLockFile));
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
      unloaded_.emplace(name, std::move(entry));
      if (!options_.open_collections_lazily) {
        auto loaded = LoadLocked(name);
        if (!loaded.ok()) return loaded.status();
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

  Result<std::shared_ptr<Collection>> CreateCollection(const std::string& name,
                                                       const CollectionConfig& config) override {
    QUIVER_RETURN_IF_ERROR(ValidateCollectionName(name));
    QUIVER_RETURN_IF_ERROR(config.Validate());
    std::lock_guard<std::mutex> lock(mu_);
    QUIVER_RETURN_IF_ERROR(CheckOpen());
    if (options_.read_only) return Status::NotSupported("the store is open read-only");
    if (collections_.count(name) || unloaded_.count(name)) {
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

  Result<std::shared_ptr<Collection>> GetCollection(const std::string& name) override {
    QUIVER_RETURN_IF_ERROR(ValidateCollectionName(name));
    std::lock_guard<std::mutex> lock(mu_);
    QUIVER_RETURN_IF_ERROR(CheckOpen());
    QUIVER_ASSIGN_OR_RETURN(auto collection, LoadLocked(name));
    return std::shared_ptr<Collection>(std::move(collection));
  }

  Result<std::shared_ptr<Collection>> OpenCollection(const std::string& name,
                                                     const CollectionConfig& config) override {
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

  Result<std::vector<CollectionInfo>> ListCollections() override {
    std::lock_guard<std::mutex> lock(mu_);
    QUIVER_RETURN_IF_ERROR(CheckOpen());
    std::vector<CollectionInfo> out;
    for (const auto& [name, collection] : collections_) {
      out.push_back({collection->id(), name, collection->config()});
    }
    for (const auto& [name, entry] : unloaded_) out.push_back({entry.id, name, entry.config});
    std::sort(out.begin(), out.end(),
              [](const CollectionInfo& a, const CollectionInfo& b) { return a.name < b.name; });
    return out;
  }

  Status DropCollection(const std::string& name) override {
    QUIVER_RETURN_IF_ERROR(ValidateCollectionName(name));
    std::lock_guard<std::mutex> lock(mu_);
    QUIVER_RETURN_IF_ERROR(CheckOpen());
    if (options_.read_only) return Status::NotSupported("the store is open read-only");
    std::int64_t id = 0;
    if (auto unloaded = unloaded_.find(name); unloaded != unloaded_.end()) {
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
    RemoveIndexDir(std::to_string(id));
    log_.Info("dropped collection '{}'", name);
    return Status::Ok();
  }

  Status Checkpoint() override {
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

  Status Backup(const std::string& dest) override {
    QUIVER_RETURN_IF_ERROR(ValidateBackupTarget(dest));
    const auto start = std::chrono::steady_clock::now();
    std::vector<storage::CatalogEntry> entries;
    {
      std::lock_guard<std::mutex> lock(mu_);
      QUIVER_RETURN_IF_ERROR(CheckOpen());
    }
    // No checkpoint may change a manifest until the database is copied.
    std::unique_lock<std::shared_mutex> gate(checkpoint_gate_);
    QUIVER_ASSIGN_OR_RETURN(entries, db_->ListCollections());
    QUIVER_RETURN_IF_ERROR(env_->CreateDirs(dest + "/" + kIndexesDir));
    std::uint64_t bytes = 0;
    for (const auto& e : entries) {
      if (e.manifest.generation == 0) continue;
      // fmt, not operator+: GCC 12 warns falsely (-Wrestrict) on these concatenations.
      const std::string dir = fmt::format("/{}/{}", kIndexesDir, e.id);
      const std::string file = fmt::format("/{}.usearch", e.manifest.generation);
      QUIVER_RETURN_IF_ERROR(env_->CreateDirs(dest + dir));
      QUIVER_ASSIGN_OR_RETURN(std::uint64_t copied, CopyFile(dir_ + dir + file, dest + dir + file));
      QUIVER_RETURN_IF_ERROR(env_->SyncDir(dest + dir));
      bytes += copied;
    }
    QUIVER_RETURN_IF_ERROR(env_->SyncDir(dest + "/" + kIndexesDir));
    QUIVER_RETURN_IF_ERROR(db_->BackupTo(dest + "/" + kDatabaseFile));
    gate.unlock();
    // Another process (a server beside `quiver backup`) may have checkpointed
    // between the file copies and the database snapshot; make the copy's
    // files match the copy's manifests.
    QUIVER_ASSIGN_OR_RETURN(bytes, ReconcileBackupFiles(dest, entries, bytes));
    QUIVER_RETURN_IF_ERROR(env_->SyncDir(dest));
    QUIVER_ASSIGN_OR_RETURN(std::uint64_t db_bytes, env_->FileSize(dest + "/" + kDatabaseFile));
    log_.Info("backup of {} written to {}: {} collections, {:.1f} MiB in {:.0f} ms", dir_, dest,
              entries.size(), static_cast<double>(bytes + db_bytes) / (1 << 20),
              MillisSince(start));
    return Status::Ok();
  }

  // --- Re-embedding (docs/text.md §Re-embedding) -----------------------------
  // The new embeddings go into a hidden collection named kReembedPrefix +
  // name; one SQLite transaction then renames the old collection to
  // kRetiredPrefix + name and the hidden one to name; the old one is dropped
  // last. Names with these prefixes fail ValidateCollectionName, so no user
  // collection has them; an open drops any it finds (a crash mid-way).
  static constexpr std::string_view kReembedPrefix = "#reembed:";
  static constexpr std::string_view kRetiredPrefix = "#retired:";

  Result<ReembedReport> Reembed(const std::string& name, const ReembedOptions& options) override {
    QUIVER_RETURN_IF_ERROR(ValidateCollectionName(name));
    if (!options.embedder) {
      return Status::InvalidArgument("embedder: none given; expected the new embedding model");
    }
    const auto start = std::chrono::steady_clock::now();
    const EmbedderInfo info = options.embedder->info();
    std::shared_ptr<CollectionImpl> old;
    {
      std::lock_guard<std::mutex> lock(mu_);
      QUIVER_RETURN_IF_ERROR(CheckOpen());
      if (options_.read_only) return Status::NotSupported("the store is open read-only");
      QUIVER_ASSIGN_OR_RETURN(old, LoadLocked(name));
    }
    CollectionConfig config = old->config();
    config.dimensions = info.dimensions;
    config.metric = info.metric;
    config.model_id = info.id;
    config.model_version = info.version;
    QUIVER_RETURN_IF_ERROR(config.Validate().WithContext("the new model's configuration"));
    embedders_->Put(options.embedder);

    ReembedReport report;
    report.config = config;
    std::shared_ptr<CollectionImpl> fresh;
    Status held = old->HoldWrites([&]() -> Status {
      // 1. Every record must have text (or be dropped on request): checked
      //    before anything is written.
      std::uint64_t total = 0;
      std::vector<Key> without_text;
      ScanOptions scan;
      scan.limit = 1000;
      scan.include_metadata = false;
      for (;;) {
        QUIVER_ASSIGN_OR_RETURN(ScanPage page, old->Scan(scan));
        for (const Record& r : page.records) {
          ++total;
          if (r.text.empty()) without_text.push_back(r.key);
        }
        if (page.next_cursor.empty()) break;
        scan.cursor = page.next_cursor;
      }
      if (!without_text.empty() && !options.drop_records_without_text) {
        std::string keys;
        for (std::size_t i = 0; i < without_text.size() && i < 10; ++i) {
          keys += (i ? ", " : "") + std::to_string(without_text[i]);
        }
        return Status::FailedPrecondition(fmt::format(
            "collection '{}': {} of {} records have no text to re-embed (keys {}{}); delete "
            "them, or re-embed with --drop-records-without-text to leave them out",
            name, without_text.size(), total, keys, without_text.size() > 10 ? ", ..." : ""));
      }

      // 2. A hidden collection with the new configuration (a leftover of a
      //    crashed re-embedding is dropped first).
      const std::string hidden = std::string(kReembedPrefix) + name;
      QUIVER_RETURN_IF_ERROR(DropHiddenByName(hidden));
      QUIVER_ASSIGN_OR_RETURN(auto entry, db_->CreateCollection(hidden, config));
      const std::int64_t fresh_id = entry.id;
      RecoveryReport recovery;
      QUIVER_ASSIGN_OR_RETURN(
          fresh, CollectionImpl::Open(MakeContext(fresh_id), std::move(entry), &recovery));

      // 3. Copy every record, its embedding left for the hidden collection to
      //    make from the text with the new model (its embedder, Put above).
      scan = ScanOptions{};
      scan.limit = std::max<std::size_t>(options.embedder->info().max_batch, 256);
      for (;;) {
        QUIVER_ASSIGN_OR_RETURN(ScanPage page, old->Scan(scan));
        std::vector<Record> records;
        records.reserve(page.records.size());
        for (Record& r : page.records) {
          if (r.text.empty()) {
            ++report.dropped_without_text;
            continue;
          }
          r.embedding.clear();
          records.push_back(std::move(r));
        }
        if (!records.empty()) {
          QUIVER_RETURN_IF_ERROR(fresh->Upsert(records).WithContext(
              fmt::format("the page of records from key {}", records.front().key)));
        }
        report.records += records.size();
        if (options.progress) options.progress(report.records + report.dropped_without_text, total);
        if (page.next_cursor.empty()) break;
        scan.cursor = page.next_cursor;
      }
      QUIVER_RETURN_IF_ERROR(fresh->Checkpoint());
      QUIVER_RETURN_IF_ERROR(crash_point::MaybeCrash("reembed.before_swap"));

      // 4. The swap: one transaction names the new collection `name`.
      QUIVER_RETURN_IF_ERROR(
          db_->SwapCollectionNames(old->id(), std::string(kRetiredPrefix) + name, fresh_id, name));
      old->MarkReplacedWhileHeld();  // writes waiting for the lock now fail
      return crash_point::MaybeCrash("reembed.after_swap");
    });
    if (!held.ok()) {
      // Nothing was swapped unless the failure came after it (a crash point).
      if (fresh && !old->IsReplaced()) {
        fresh->MarkDropped();
        (void)db_->DropCollection(fresh->id());
        RemoveIndexDir(std::to_string(fresh->id()));
      }
      return held.WithContext("re-embedding '" + name + "'");
    }

    // 5. Publish the new collection and drop the old one's table and files.
    fresh->SetNameBeforePublishing(name);
    {
      std::lock_guard<std::mutex> lock(mu_);
      collections_[name] = fresh;
    }
    Status dropped = db_->DropCollection(old->id());
    if (dropped.ok()) {
      RemoveIndexDir(std::to_string(old->id()));
    } else {
      log_.Warn(
          "collection '{}': the replaced collection could not be dropped ({}); the next "
          "open drops it",
          name, dropped.ToString());
    }
    report.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    log_.Info("collection '{}': re-embedded {} records with {}@{} in {:.1f} s ({}{})", name,
              report.records, info.id, info.version, report.seconds, config.ToString(),
              report.dropped_without_text
                  ? fmt::format(", {} records without text left out", report.dropped_without_text)
                  : "");
    return report;
  }

  /// Drops the hidden collection `hidden_name` (kReembedPrefix/kRetiredPrefix) if it exists.
  Status DropHiddenByName(const std::string& hidden_name) {
    QUIVER_ASSIGN_OR_RETURN(auto entries, db_->ListCollections());
    for (const auto& e : entries) {
      if (e.name != hidden_name) continue;
      QUIVER_RETURN_IF_ERROR(db_->DropCollection(e.id));
      RemoveIndexDir(std::to_string(e.id));
    }
    return Status::Ok();
  }

  Status Close() override {
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

  const std::string& dir() const override { return dir_; }

 private:
  /// Returns the loaded collection `name`, recovering it first if needed
  /// (docs/durability.md §4 steps 2-6). Caller holds mu_.
  Result<std::shared_ptr<CollectionImpl>> LoadLocked(const std::string& name) {
    if (auto it = collections_.find(name); it != collections_.end()) return it->second;
    auto unloaded = unloaded_.find(name);
    if (unloaded == unloaded_.end()) {
      return Status::NotFound("collection '" + name + "' does not exist");
    }
    const std::int64_t id = unloaded->second.id;
    RecoveryReport report;
    auto collection = CollectionImpl::Open(MakeContext(id), unloaded->second, &report);
    if (!collection.ok()) {
      return collection.status().WithContext("opening collection '" + name + "'");
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

  Status ValidateBackupTarget(const std::string& dest) {
    if (dest.empty()) return Status::InvalidArgument("backup destination: empty path");
    if (env_->FileExists(dest)) {
      QUIVER_ASSIGN_OR_RETURN(auto names, env_->ListDir(dest));
      if (!names.empty()) {
        return Status::AlreadyExists("backup destination " + dest +
                                     " is not empty; expected a new or empty directory");
      }
    }
    return env_->CreateDirs(dest);
  }

  /// For each collection whose manifest in the copied database names another
  /// generation than the file copied before (`copied`), copies that file
  /// instead. If it is gone too, the copy rebuilds that index when opened.
  Result<std::uint64_t> ReconcileBackupFiles(const std::string& dest,
                                             const std::vector<storage::CatalogEntry>& copied,
                                             std::uint64_t bytes) {
    QUIVER_ASSIGN_OR_RETURN(auto copy_db,
                            storage::Database::Open(dest + "/" + kDatabaseFile, /*read_only=*/true,
                                                    options_.synchronous));
    QUIVER_ASSIGN_OR_RETURN(auto in_copy, copy_db->ListCollections());
    for (const auto& e : in_copy) {
      auto before =
          std::find_if(copied.begin(), copied.end(), [&](const auto& c) { return c.id == e.id; });
      const std::uint64_t had = before == copied.end() ? 0 : before->manifest.generation;
      if (had == e.manifest.generation) continue;
      const std::string dir = fmt::format("/{}/{}", kIndexesDir, e.id);
      if (had > 0) (void)env_->RemoveFile(fmt::format("{}{}/{}.usearch", dest, dir, had));
      if (e.manifest.generation == 0) continue;
      const std::string file = fmt::format("/{}.usearch", e.manifest.generation);
      QUIVER_RETURN_IF_ERROR(env_->CreateDirs(dest + dir));
      auto copied_now = CopyFile(dir_ + dir + file, dest + dir + file);
      if (copied_now.ok()) {
        bytes += *copied_now;
        QUIVER_RETURN_IF_ERROR(env_->SyncDir(dest + dir));
      } else {
        log_.Warn(
            "backup: checkpoint {} of '{}' changed during the copy ({}); the copy will "
            "rebuild that index from its database when opened",
            file, e.name, copied_now.status().ToString());
      }
    }
    return bytes;
  }

  /// Copies `from` to `to` through the Env and fsyncs it; returns the bytes copied.
  Result<std::uint64_t> CopyFile(const std::string& from, const std::string& to) {
    QUIVER_ASSIGN_OR_RETURN(auto in, env_->NewSequentialFile(from));
    QUIVER_ASSIGN_OR_RETURN(auto out, env_->NewWritableFile(to));
    std::vector<char> buffer(1 << 20);
    std::uint64_t total = 0;
    while (true) {
      std::size_t got = 0;
      QUIVER_RETURN_IF_ERROR(in->Read(buffer.size(), buffer.data(), &got));
      if (got == 0) break;
      QUIVER_RETURN_IF_ERROR(out->Append(buffer.data(), got));
      total += got;
    }
    QUIVER_RETURN_IF_ERROR(out->Sync());
    QUIVER_RETURN_IF_ERROR(out->Close());
    return total;
  }

  /// Background thread: checkpoints collections whose oldest unsaved change is
  /// older than checkpoint_interval_seconds. Wakes once a second.
  void CheckpointByTime() {
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

  Status CheckOpen() const {
    return closed_ ? Status::FailedPrecondition("the store " + dir_ + " is closed") : Status::Ok();
  }

  CollectionContext MakeContext(std::int64_t id) const {
    CollectionContext c;
    c.env = env_;
    c.db = db_.get();
    c.log = &log_;
    c.index_dir = dir_ + "/" + kIndexesDir + "/" + std::to_string(id);
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
  /// by a process that crashed before deleting the files).
  Status RemoveOrphanIndexDirs(const std::vector<storage::CatalogEntry>& entries) {
    const std::string root = dir_ + "/" + kIndexesDir;
    QUIVER_RETURN_IF_ERROR(env_->CreateDirs(root));
    QUIVER_ASSIGN_OR_RETURN(auto names, env_->ListDir(root));
    for (const std::string& name : names) {
      bool live = std::any_of(entries.begin(), entries.end(),
                              [&](const auto& e) { return std::to_string(e.id) == name; });
      if (!live) RemoveIndexDir(name);
    }
    return Status::Ok();
  }

  /// Gives every collection of a store made before full-text search its
  /// FTS5 index (docs/durability.md §4 step 2; one transaction per
  /// collection, so a crash leaves the old schema and the next open redoes
  /// it). Cost: one pass over the record texts of each such collection.
  Status MigrateFullText(const std::vector<storage::CatalogEntry>& entries) {
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

  void RemoveIndexDir(const std::string& name) {
    const std::string path = dir_ + "/" + kIndexesDir + "/" + name;
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

  const std::string dir_;
  const StoreOptions options_;
  Env* const env_;
  const Log log_;
  std::unique_ptr<FileLock> lock_;
  std::unique_ptr<storage::Database> db_;
  std::mutex mu_;  // guards collections_ and closed_
  std::map<std::string, std::shared_ptr<CollectionImpl>> collections_;
  /// Catalog entries of collections not recovered yet (open_collections_lazily).
  std::map<std::string, storage::CatalogEntry> unloaded_;
  bool closed_ = false;
  bool stopping_ = false;  // guarded by mu_; ends the checkpointer thread
  std::condition_variable stop_cv_;
  std::thread checkpointer_;
  /// Embedders of the collections' model tags, shared with them.
  const std::shared_ptr<EmbedderCache> embedders_ =
      std::make_shared<EmbedderCache>(options_.embedder_resolver);
  mutable std::shared_mutex checkpoint_gate_;  // see CollectionContext::checkpoint_gate
};

}  // namespace

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
