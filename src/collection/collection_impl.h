// Copyright (c) Quiver authors.
//
// The implementation of Collection: the write path (validate, commit in
// SQLite, apply to the index), search, checkpoints and recovery. It joins the
// storage module (SQLite) and the index module (USearch), which never see
// each other. See docs/durability.md §2 to §4.

#ifndef QUIVER_COLLECTION_COLLECTION_IMPL_H_
#define QUIVER_COLLECTION_COLLECTION_IMPL_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>

#include "index/hnsw_index.h"
#include "quiver/collection.h"
#include "quiver/embedder.h"
#include "quiver/env.h"
#include "storage/database.h"
#include "util/logging.h"

namespace quiver {

/// Resolves embedders by model tag and keeps them, so that the collections of
/// one store that share a model share one instance (one ONNX session, one
/// HTTP client). Shared by the store and its collections; thread-safe.
class EmbedderCache {
 public:
  explicit EmbedderCache(EmbedderResolver resolver) : resolver_(std::move(resolver)) {}
  /// The embedder of (model_id, model_version), resolved on first use.
  /// FailedPrecondition when there is no resolver or it does not know the model.
  Result<std::shared_ptr<Embedder>> Get(const std::string& model_id,
                                        const std::string& model_version);
  /// Makes `embedder` the one of its own model tag (a re-embedding's model,
  /// which the resolver may not know).
  void Put(std::shared_ptr<Embedder> embedder);

 private:
  const EmbedderResolver resolver_;
  std::mutex mu_;
  std::vector<std::pair<std::string, std::shared_ptr<Embedder>>> cache_;  // guarded by mu_
};

/// What a collection borrows from its store. All pointers outlive the collection's use.
struct CollectionContext {
  Env* env = nullptr;
  storage::Database* db = nullptr;
  const Log* log = nullptr;
  /// <data>/indexes/<collection id>
  std::string index_dir;
  bool read_only = false;
  /// Checkpoints hold it shared; Store::Backup holds it exclusively so that no
  /// manifest changes while the files and the database are copied.
  std::shared_mutex* checkpoint_gate = nullptr;
  std::uint64_t checkpoint_every_changes = 0;
  std::size_t search_threads = 1;
  std::size_t add_threads = 1;
  /// Embedders of model tags; nullptr = none can be resolved.
  std::shared_ptr<EmbedderCache> embedders;
};

/// Per-collection numbers of one recovery, for the store's open log.
struct RecoveryReport {
  std::uint64_t vectors_loaded = 0;
  std::uint64_t changes_replayed = 0;
  std::uint64_t files_removed = 0;
  bool rebuilt = false;
  /// The checkpoint is memory-mapped (read-only store, nothing to replay).
  bool mapped = false;
  double load_ms = 0;
  double replay_ms = 0;
};

class CollectionImpl final : public Collection {
 public:
  /// Recovers the collection described by `entry`: removes leftover files,
  /// loads and verifies the checkpoint (or rebuilds from SQLite when it is
  /// missing or unusable, with a warning), then replays the change log.
  static Result<std::shared_ptr<CollectionImpl>> Open(const CollectionContext& context,
                                                      storage::CatalogEntry entry,
                                                      RecoveryReport* report);

  const std::string& name() const override { return entry_.name; }
  CollectionConfig config() const override;
  std::int64_t id() const { return entry_.id; }

  Status Upsert(const std::vector<Record>& records) override;
  Result<std::vector<Key>> Insert(const std::vector<Record>& records) override;
  Result<std::size_t> Delete(const std::vector<Key>& keys) override;
  Result<std::vector<std::optional<Record>>> Get(const std::vector<Key>& keys) override;
  using Collection::Search;
  Result<std::vector<std::vector<Match>>> Search(const float* queries, std::size_t num_queries,
                                                 const SearchOptions& options) override;
  Result<std::vector<std::vector<Match>>> SearchExact(const float* queries, std::size_t num_queries,
                                                      std::size_t k) override;
  Result<std::uint64_t> Count() override;
  Result<std::uint64_t> Count(const std::string& filter) override;
  Result<ScanPage> Scan(const ScanOptions& options) override;
  Result<std::size_t> DeleteWhere(const std::string& filter) override;
  Result<SearchPlan> Explain(const SearchOptions& options) override;
  Result<std::vector<std::vector<Match>>> SearchText(const std::vector<std::string>& queries,
                                                     const TextSearchOptions& options) override;
  Status CreateFieldIndex(const std::string& field) override;
  Status DropFieldIndex(const std::string& field) override;
  Result<std::vector<std::string>> FieldIndexes() override;
  Result<CollectionStats> Stats() override;
  Status Checkpoint() override;
  Status Rebuild(const RebuildOptions& options) override;
  Result<VerifyReport> Verify() override;

  /// True if changes were applied since the last checkpoint.
  bool dirty() const;
  /// True if the oldest change not yet checkpointed is older than `age`.
  bool DirtyFor(std::chrono::steady_clock::duration age) const;
  /// Called by Store: every later call fails with NotFound / FailedPrecondition.
  /// Waits for a write in progress to finish.
  void MarkDropped();
  void MarkClosed();

  /// Runs `body` with the collection's writes held off (write_mu_), after
  /// checking it is writable. For Store::Reembed.
  Status HoldWrites(const std::function<Status()>& body);
  /// Like MarkDropped, from inside HoldWrites' body: writes waiting for the
  /// lock then fail with NotFound (the collection was replaced).
  void MarkReplacedWhileHeld() {
    replaced_ = true;
    dropped_ = true;
  }
  bool IsReplaced() const { return replaced_; }
  /// Renames the collection object; only before the store publishes it.
  void SetNameBeforePublishing(std::string name) { entry_.name = std::move(name); }

 private:
  CollectionImpl(const CollectionContext& context, storage::CatalogEntry entry);

  Status Recover(RecoveryReport* report);
  Status RemoveLeftoverFiles(RecoveryReport* report);
  Status RebuildFromStorage(RecoveryReport* report);
  /// A new index for `config` holding every embedding in SQLite; `*snapshot_seq`
  /// = the last change the scan reflects.
  Result<std::shared_ptr<index::HnswIndex>> BuildFromStorage(
      const CollectionConfig& config, std::uint64_t* snapshot_seq,
      const std::function<void(std::uint64_t, std::uint64_t)>& progress);
  Status ReplayChangeLog(RecoveryReport* report);
  /// Appends to `report` every difference between the records and their
  /// full-text index (storage::Database::VerifyFullText). Part of Verify.
  void VerifyFullText(VerifyReport* report);

  // --- The query planner (query_planner.cc) ---------------------------------
  /// A plan and what executing it needs: the matching keys (sorted) when a
  /// filter restricts the search.
  struct PlannedSearch {
    SearchPlan plan;
    bool filtered = false;
    std::vector<Key> keys;
  };
  /// Evaluates the filter of `options` and chooses a strategy (see
  /// query_planner.cc for the cost model).
  Result<PlannedSearch> PlanSearch(const SearchOptions& options, const index::HnswIndex& index);
  /// Search with a filter, a distance bound or re-ranking.
  Result<std::vector<std::vector<Match>>> SearchPlanned(const float* queries,
                                                        std::size_t num_queries,
                                                        const SearchOptions& options);
  /// Looks up id/text/metadata of each query's matches as `options` asks,
  /// dropping matches whose record was deleted since the index search.
  Status FillResults(const SearchOptions& options, std::vector<std::vector<Match>>* results);

  // --- Text (text_search.cc, hybrid_search.cc) ---------------------------------
  /// The collection's embedder (resolved once, by its model tag).
  /// FailedPrecondition when it has no model tag or the tag cannot be resolved,
  /// or when the embedder's dimensions differ from the collection's.
  Result<std::shared_ptr<Embedder>> GetEmbedder();
  /// `records`, or a copy in which every record with text and no embedding
  /// has been embedded (docs/text.md); nothing is written here.
  Result<const std::vector<Record>*> EmbedMissing(const std::vector<Record>& records,
                                                  std::vector<Record>* embedded);
  /// InvalidArgument naming the first field of `options` out of range:
  /// mode, fusion, k (1..kMaxSearchK), max_distance (NaN), rrf_k
  /// (1..10000), vector_weight (finite, 0..1), candidates (0..kMaxSearchK,
  /// and at least k for kHybrid when not 0); or the first of `queries` over
  /// 16 KiB in the full-text and hybrid modes ("queries[i]"). Checked before
  /// any query is embedded (hybrid_search.cc).
  static Status ValidateTextOptions(const TextSearchOptions& options,
                                    const std::vector<std::string>& queries);
  /// kFullText and kHybrid (hybrid_search.cc): `query_vectors` holds one
  /// embedding per query for kHybrid, nothing for kFullText. Each query is
  /// FTS5 query syntax; InvalidArgument "queries[i]: fts5: ..." when FTS5
  /// refuses one.
  Result<std::vector<std::vector<Match>>> SearchFullTextOrHybrid(
      const std::vector<std::string>& queries, const std::vector<float>& query_vectors,
      const TextSearchOptions& options);

  /// OK if the collection can serve reads (`write` = false) or writes.
  Status CheckUsable(bool write) const;
  /// Validates a whole batch before anything is written (docs/durability.md §2 step 1).
  Status ValidateBatch(const std::vector<Record>& records, bool check_keys) const;
  Status ValidateQueries(const float* queries, std::size_t num_queries, std::size_t k) const;
  /// After a commit: applies the records to the index and advances applied_seq.
  /// After a committed delete: removes `keys` from the index (absent ones are
  /// ignored) and advances applied_seq; returns how many records were deleted.
  Result<std::size_t> ApplyDeletes(const std::vector<Key>& keys,
                                   const storage::WriteResult& written);
  Status ApplyUpserts(const std::vector<Record>& records, const std::vector<Key>& keys,
                      std::uint64_t last_seq);
  Status AfterWrite(std::uint64_t changes);
  /// Counts `changes` more unsaved changes and remembers when the first one came.
  void MarkDirty(std::uint64_t changes);
  /// Rebuilds the index from SQLite when many of its vectors were removed or
  /// replaced since it was built (see HnswIndex::removed_slots). Holds write_mu_.
  Status CompactIfChurned();
  /// Walks `index` (if `walk`) and relinks its unreachable live vectors, and
  /// those of `self_queries` a search for themselves misses (see
  /// HnswIndex::RepairReachability), logging what it did `after` (e.g.
  /// "build"). A view is only walked. Resets changes_since_walk_ when `index`
  /// is the current one. Caller holds write_mu_ or owns `index` alone.
  Status RepairReachability(
      index::HnswIndex* index, std::string_view after,
      index::HnswIndex::SelfQueries self_queries = index::HnswIndex::SelfQueries::kNone,
      bool walk = true);
  /// Writes a checkpoint of the current index. With `new_config`, the
  /// manifest commit also stores that configuration (Rebuild).
  Status CheckpointLocked(const CollectionConfig* new_config = nullptr);
  void Latch(const Status& cause);

  std::string CheckpointPath(std::uint64_t generation) const;
  std::shared_ptr<index::HnswIndex> index() const;
  void SetIndex(std::shared_ptr<index::HnswIndex> index);

  const CollectionContext context_;
  const std::uint32_t dimensions_;  // never changes, read without locks
  /// name and id are fixed; config and manifest change only under write_mu_
  /// (config also under config_mu_, for readers that do not take write_mu_).
  storage::CatalogEntry entry_;
  mutable std::mutex config_mu_;
  /// Replaced by Rebuild; every user takes its own reference through index().
  mutable std::mutex index_mu_;
  std::shared_ptr<index::HnswIndex> index_;  // guarded by index_mu_

  /// Serializes writes and checkpoints of this collection.
  mutable std::mutex write_mu_;
  std::atomic<std::uint64_t> applied_seq_{0};
  std::atomic<std::uint64_t> changes_since_checkpoint_{0};
  /// steady_clock time (ns since epoch) of the first unsaved change; 0 = clean.
  std::atomic<std::int64_t> dirty_since_ns_{0};
  std::atomic<double> last_checkpoint_ms_{0};
  /// Vectors added or replaced in the current index since its graph was last
  /// walked for unreachable nodes (guarded by write_mu_). Adds can strand
  /// nodes (see RepairReachability); deletes cannot (USearch keeps a removed
  /// node's edges until its slot is reused by an add).
  std::uint64_t changes_since_walk_ = 0;
  /// Whether the collection may hold a string id (a StringIds value). Starts
  /// kUnknown; the first search that needs to know asks SQLite. A write of a
  /// string id sets kSome before its commit, so a search that finds the
  /// record afterwards also sees kSome; kSome is never cleared.
  enum StringIds : int { kUnknown = 0, kNone = 1, kSome = 2 };
  std::atomic<int> string_ids_{kUnknown};
  /// True when searches must look matches up to name their string ids.
  Result<bool> MayHaveStringIds();
  /// Sets string_ids_ to kSome if any record has a string id. Call before
  /// the batch's commit.
  void NoteStringIds(const std::vector<Record>& records);
  std::mutex embedder_mu_;
  std::shared_ptr<Embedder> embedder_;  // guarded by embedder_mu_; set once
  std::atomic<bool> dropped_{false};
  std::atomic<bool> replaced_{false};  // dropped_ by a re-embedding
  std::atomic<bool> closed_{false};
  mutable std::mutex fatal_mu_;
  std::string fatal_error_;  // guarded by fatal_mu_
};

}  // namespace quiver

#endif  // QUIVER_COLLECTION_COLLECTION_IMPL_H_
