// Copyright (c) Quiver authors.
//
// A collection: records with embeddings of one fixed configuration, stored in
// SQLite and indexed by an HNSW graph (USearch).

#ifndef QUIVER_COLLECTION_H_
#define QUIVER_COLLECTION_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "quiver/options.h"
#include "quiver/record.h"
#include "quiver/status.h"

namespace quiver {

/// Counters of one collection, as `quiver stats` prints them.
struct CollectionStats {
  std::string name;
  std::int64_t id = 0;
  CollectionConfig config;
  /// Live records in SQLite.
  std::uint64_t records = 0;
  /// Live vectors in the in-memory index (equals `records` when healthy, I7).
  std::uint64_t index_vectors = 0;
  /// Bytes the index uses in memory (USearch's estimate).
  std::uint64_t index_memory_bytes = 0;
  /// The index is the checkpoint file memory-mapped (a read-only store whose
  /// checkpoint was current at open), not a copy in memory.
  bool index_mapped = false;
  /// Highest change sequence number applied to the in-memory index.
  std::uint64_t applied_seq = 0;
  /// Change-log entries of this collection not yet covered by a checkpoint.
  std::uint64_t change_log_length = 0;
  /// Current checkpoint: generation (0 = none yet), applied_seq it covers, size on disk.
  std::uint64_t checkpoint_generation = 0;
  std::uint64_t checkpoint_applied_seq = 0;
  std::uint64_t checkpoint_bytes = 0;
  /// Duration of the last checkpoint written by this process, milliseconds (0 = none).
  double last_checkpoint_ms = 0;
  /// Live vectors that the last walk of the HNSW graph from its entry point
  /// did not reach, so that no search could return them, left unrepaired
  /// (0 when healthy). Walks run after builds, opens, checkpoints and every
  /// 1/64 of the index in added vectors; Verify walks afresh.
  std::uint64_t unreachable_vectors = 0;
  /// Distance kernel chosen at run time: "avx512" or "avx2" for Quiver's float32-accumulating
  /// kernels (f32 collections on x86-64 with AVX2+FMA), else the NumKong kernel USearch
  /// dispatched to, e.g. "skylake", "icelake", "haswell", "serial".
  std::string simd_kernel;
  /// Metadata fields with an index (CreateFieldIndex), sorted.
  std::vector<std::string> indexed_fields;
  /// Non-empty when the collection is latched read-only after a failed write of its files.
  std::string fatal_error;
};

/// The outcome of Collection::Verify: every difference found (empty = clean).
struct VerifyReport {
  std::string collection;
  std::uint64_t records_checked = 0;
  std::uint64_t index_vectors_checked = 0;
  /// Live vectors that no walk from the HNSW entry point reaches (each is
  /// also listed in `problems`).
  std::uint64_t unreachable = 0;
  /// Human-readable lines, one per difference, e.g. "key 17: in SQLite, missing from index".
  std::vector<std::string> problems;
  bool clean() const { return problems.empty(); }
};

/// Index parameters a rebuild may change. Dimensions, metric and model tag
/// never change: they describe the embeddings themselves.
struct RebuildOptions {
  std::optional<ScalarKind> scalar;
  std::optional<std::uint32_t> connectivity;
  std::optional<std::uint32_t> expansion_add;
  std::optional<std::uint32_t> expansion_search;
  /// Called from the rebuilding thread with (vectors indexed, total) about
  /// every 1% of the work. May be empty.
  std::function<void(std::uint64_t done, std::uint64_t total)> progress;
};

/// Handle to a collection. Obtained from Store; shares ownership with the
/// store, so a handle stays valid (as an object) even after the collection is
/// dropped or the store closed; it then fails every call with NotFound or
/// FailedPrecondition.
///
/// Thread safety: all methods may be called concurrently from any thread.
/// Searches run in parallel with each other and with writes; writes to one
/// collection are serialized.
class Collection {
 public:
  virtual ~Collection() = default;

  /// The collection's name and its configuration (fixed at creation).
  virtual const std::string& name() const = 0;
  virtual CollectionConfig config() const = 0;

  /// Inserts or replaces a batch of records, atomically. The whole batch is
  /// validated first (dimensions, finite values, metadata is a JSON object,
  /// no key twice, key != kReservedKey, size <= kMaxBatchSize); on the first
  /// problem returns InvalidArgument naming the record index and field, and
  /// writes nothing. On OK the batch is durable (committed in SQLite) and
  /// searchable. IOError: indeterminate (see StatusCode::kIOError).
  ///
  /// Text in: a record with text and an empty embedding is embedded by the
  /// collection's embedder (its model tag, resolved by
  /// StoreOptions::embedder_resolver), in calls of EmbedderInfo::max_batch
  /// texts, before the transaction begins; if any call fails nothing is
  /// written (FailedPrecondition without an embedder, InvalidArgument naming
  /// the record whose text the model refuses, Unavailable for a failed server).
  virtual Status Upsert(const std::vector<Record>& records) = 0;

  /// Inserts new records under fresh keys, atomically: records[i].key is
  /// ignored and the keys chosen (consecutive, one above the largest key below
  /// 2^63 in the collection, from 1 in an empty one) are returned in order. Same validation and
  /// durability as Upsert. For clients that let the store number records
  /// (memista's /v1/insert).
  virtual Result<std::vector<Key>> Insert(const std::vector<Record>& records) = 0;

  /// Deletes the records with these keys, atomically; keys that do not exist
  /// are ignored. Returns the number of records deleted. Durable on OK.
  virtual Result<std::size_t> Delete(const std::vector<Key>& keys) = 0;

  /// Reads records by key, from SQLite. Entry i is the record of keys[i], or
  /// nullopt when there is none.
  virtual Result<std::vector<std::optional<Record>>> Get(const std::vector<Key>& keys) = 0;

  /// Approximate nearest neighbours of `num_queries` query vectors stored
  /// row-major in `queries` (num_queries x dimensions float32). Returns one
  /// list per query, closest first (ascending distance), at most k long.
  /// InvalidArgument: k outside 1..kMaxSearchK, a non-finite query value,
  /// num_queries == 0.
  virtual Result<std::vector<std::vector<Match>>> Search(const float* queries,
                                                         std::size_t num_queries,
                                                         const SearchOptions& options) = 0;

  /// Convenience: one query; `query.size()` must equal the dimensions.
  Result<std::vector<Match>> Search(const std::vector<float>& query, const SearchOptions& options);

  /// Text search, one result list per query text (closest or most relevant
  /// first, at most k long). kVector and kHybrid embed the queries with the
  /// collection's embedder (EmbedPurpose::kQuery); kFullText and kHybrid rank
  /// the record texts by BM25 with SQLite FTS5, whose query syntax
  /// (https://sqlite.org/fts5.html#full_text_query_syntax) each query uses:
  /// words are ANDed, "quoted phrases", OR, NOT, prefix*. The filter applies
  /// to every side. Errors: InvalidArgument (no queries, an empty query, an
  /// FTS5 syntax error naming the query, a full-text query over 16 KiB,
  /// out-of-range options),
  /// FailedPrecondition (kVector/kHybrid on a collection with no model tag, or
  /// whose embedder the store cannot resolve), Unavailable (the embedder's
  /// server failed).
  virtual Result<std::vector<std::vector<Match>>> SearchText(
      const std::vector<std::string>& queries, const TextSearchOptions& options) = 0;

  /// Exact (brute-force) nearest neighbours over the index's vectors, for
  /// measuring recall. Same contract as Search; O(n) per query.
  virtual Result<std::vector<std::vector<Match>>> SearchExact(const float* queries,
                                                              std::size_t num_queries,
                                                              std::size_t k) = 0;

  /// Number of live records (from SQLite).
  virtual Result<std::uint64_t> Count() = 0;

  // --- Filters (docs/filters.md) ----------------------------------------------
  // `filter` is the JSON text of a `where` object (SearchOptions::filter); a
  // bad one is InvalidArgument naming the bad node, and nothing is written.

  /// Number of records that match `filter` (an index count when the filter's
  /// fields are indexed, else one pass over the records).
  virtual Result<std::uint64_t> Count(const std::string& filter) = 0;

  /// A page of the records that match, in options.order: key order by
  /// default (the key column's int64 order: keys >= 2^63 come first), or
  /// insertion order (ScanOrder::kInsertion). InvalidArgument for limit
  /// outside 1..kMaxBatchSize, more than kMaxBatchSize keys, or a cursor this
  /// collection did not hand out for a scan of this order. Cost: O(log n) per
  /// page plus the records returned (and `offset` skipped); with a filter that
  /// no index serves, a pass over the records until the page is full.
  virtual Result<ScanPage> Scan(const ScanOptions& options) = 0;

  /// Deletes every record that matches `filter`, atomically (one SQLite
  /// transaction, change-logged like Delete). Returns how many; 0 when none
  /// match. An empty filter is InvalidArgument (use "{}" to mean every record).
  virtual Result<std::size_t> DeleteWhere(const std::string& filter) = 0;

  /// The plan Search would choose now for `options` (filter, k, expansion,
  /// rerank), without searching. Evaluates the filter once.
  virtual Result<SearchPlan> Explain(const SearchOptions& options) = 0;

  /// Indexes a metadata field (a dotted path, as in filters; not "id"/"key",
  /// which are always indexed) with an SQLite expression index, so that
  /// filters on it are index lookups instead of a pass over the records.
  /// Idempotent. Cost: one pass over the records; writes wait meanwhile.
  virtual Status CreateFieldIndex(const std::string& field) = 0;
  /// Drops a field's index; NotFound when it has none.
  virtual Status DropFieldIndex(const std::string& field) = 0;
  /// The indexed fields, sorted.
  virtual Result<std::vector<std::string>> FieldIndexes() = 0;

  virtual Result<CollectionStats> Stats() = 0;

  /// Writes the in-memory index to a new checkpoint file (atomically, with a
  /// checksum) and trims the change log it covers. A no-op when nothing changed.
  /// Before writing, it may first compact the index: once at least
  /// max(1,000, a quarter of the index's size) vectors were deleted or replaced
  /// since the index was built, it is rebuilt from the embeddings in SQLite,
  /// which costs a full index build (about as long as importing the collection)
  /// while writes to the collection wait; searches continue on the old index.
  /// It also walks the graph and relinks unreachable vectors first
  /// (docs/reachability.md; O(vectors + edges)). Steps and crash points:
  /// docs/durability.md §3. IOError leaves the previous checkpoint in place
  /// and latches the collection read-only until the store is reopened.
  virtual Status Checkpoint() = 0;

  /// Builds a new index from the embeddings in SQLite, with the parameters in
  /// `options` replacing the collection's, writes its checkpoint, and swaps it
  /// in atomically (configuration and manifest in one SQLite transaction).
  /// Searches keep using the old index until the swap; writes wait. A crash
  /// before the swap leaves the old index and configuration in charge.
  /// InvalidArgument for out-of-range parameters.
  virtual Status Rebuild(const RebuildOptions& options) = 0;

  /// Checks that the live keys in SQLite equal the keys in the index (I7), that
  /// every stored embedding has the collection's dimensions, that every live
  /// vector is reachable from the HNSW graph's entry point (else no search can
  /// return it; O(vectors + edges): 64 ms for 60,000 vectors at M=16 on a
  /// loaded 2-core machine, so about 1 s per million),
  /// that the current checkpoint file matches its manifest checksum (I4),
  /// and that the full-text index agrees with the records: the same keys,
  /// exactly; for 256 records spread over the key range, the index holds
  /// their current text; and, on a writable store, SQLite FTS5's own
  /// integrity-check against the records (every token of every record; about
  /// 0.3 s per 100,000 short texts, during which writes to the store wait).
  virtual Result<VerifyReport> Verify() = 0;
};

}  // namespace quiver

#endif  // QUIVER_COLLECTION_H_
