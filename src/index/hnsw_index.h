// Copyright (c) Quiver authors.
//
// The HNSW index of one collection: an adapter over USearch's index_dense_t
// (Malkov & Yashunin, "Efficient and robust approximate nearest neighbor
// search using Hierarchical Navigable Small World graphs", 2016), and its
// checkpoint writer and loaders. The only module that includes USearch.
//
// Checkpoints: SaveCheckpoint and LoadCheckpoint write and read the file
// format of checkpoint_file.h; a file is parsed by USearch only after every
// byte passed its checksums, and a loaded header must agree with the
// collection's configuration (invariant I4).
//
// Thread safety and lock discipline (one shared_mutex, `mu_`):
//   - Search, SearchExact: shared; concurrent with each other and with Add/Remove.
//     A Search that returns fewer than k matches (a walk that met a node a
//     concurrent add has not linked on level 0 yet, USearch issue #735; or a
//     collection smaller than k) runs again under the exclusive lock.
//   - AddBatch, Remove: shared, but callers must serialize them (one writer
//     per collection); growing the capacity takes `mu_` exclusively.
//   - a search with another expansion_search than the current one: exclusive
//     (USearch keeps ef in the index's config).
//   - SaveCheckpoint, CheckReachability: shared; callers must exclude writers
//     while they run.
//   - RepairReachability: exclusive while it walks and rewrites neighbour
//     lists, shared while its self-query check searches; callers must exclude
//     writers too.
// USearch requires a free "thread context" per concurrent operation: searches
// wait on a semaphore sized to the contexts reserved for them.

#ifndef QUIVER_INDEX_HNSW_INDEX_H_
#define QUIVER_INDEX_HNSW_INDEX_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "index/checkpoint_file.h"
#include "quiver/env.h"
#include "quiver/options.h"
#include "quiver/record.h"
#include "quiver/status.h"

namespace quiver::index {

/// What a reachability walk found (CheckReachability).
struct ReachabilityReport {
  /// Live vectors in the index.
  std::uint64_t live_vectors = 0;
  /// Live keys that no walk from the entry point reaches, so that no search,
  /// at any expansion, can return them. Ascending.
  std::vector<Key> unreachable;
  /// Duration of the walk, milliseconds.
  double walk_ms = 0;
};

/// What RepairReachability did.
struct ReachabilityRepair {
  /// Unreachable live vectors found by the first walk.
  std::uint64_t found = 0;
  /// Vectors given new in-edges (unreachable ones; the others became
  /// reachable through them; and vectors the self-query check missed).
  std::uint64_t relinked = 0;
  /// Vectors the self-query check (SelfQueries) found missing from a search
  /// for their own vector, before they were relinked (summed over rounds).
  std::uint64_t self_query_missed = 0;
  /// Searches the self-query check ran (one per vector checked, summed over rounds).
  std::uint64_t self_queried = 0;
  /// Distances those searches computed.
  std::uint64_t self_query_distances = 0;
  /// Edges dropped to keep a full neighbour list within the degree bound.
  std::uint64_t edges_replaced = 0;
  /// Live vectors still unreachable after the last walk (0 = repaired).
  std::uint64_t remaining = 0;
  /// Walks done (1 when nothing was unreachable).
  std::uint32_t walks = 0;
  /// Duration of the whole repair, walks included, milliseconds.
  double ms = 0;
};

class HnswIndex {
 public:
  /// An empty index for `config`. `search_threads` = searches that may run
  /// at once; `add_threads` = threads a batch insert may use.
  static Result<std::unique_ptr<HnswIndex>> Create(const CollectionConfig& config,
                                                   std::size_t search_threads,
                                                   std::size_t add_threads);

  /// How LoadCheckpoint makes the file's graph and vectors searchable.
  enum class LoadMode {
    /// Read into memory; the index can then be modified.
    kCopy,
    /// Memory-map the file (USearch's view()): pages are shared with the OS
    /// page cache and read on demand, nothing is copied, and the index is
    /// immutable (AddBatch/Remove return NotSupported). The file is opened
    /// by USearch directly, not through the Env; it stays mapped (even if a
    /// writer later unlinks it) until the index is destroyed.
    kView,
  };

  /// Loads and verifies a checkpoint written by SaveCheckpoint: every byte is
  /// checksummed (read through `env`) before USearch parses any. Corruption
  /// (with the reason) when the file is torn, foreign, or disagrees with
  /// `config`, `identity` or `expected_checksum`; NotFound when missing.
  static Result<std::unique_ptr<HnswIndex>> LoadCheckpoint(
      Env* env, const std::string& path, const CollectionConfig& config,
      const CheckpointIdentity& identity, std::uint64_t expected_checksum,
      std::size_t search_threads, std::size_t add_threads, LoadMode mode = LoadMode::kCopy);

  /// Checks a checkpoint file's footer and payload checksum without loading it.
  static Status VerifyCheckpointFile(Env* env, const std::string& path,
                                     const CheckpointIdentity& identity,
                                     std::uint64_t expected_checksum);

  ~HnswIndex();
  HnswIndex(const HnswIndex&) = delete;
  HnswIndex& operator=(const HnswIndex&) = delete;

  /// Inserts or replaces `n` vectors (row-major n x dimensions float32) with
  /// the given keys, using up to add_threads threads. Keys must be distinct.
  Status AddBatch(const Key* keys, const float* vectors, std::size_t n);
  /// Removes keys (absent keys are ignored).
  Status Remove(const Key* keys, std::size_t n);

  /// Up to k nearest keys of one query (dimensions float32), ascending distance.
  /// expansion_search 0 = the index's current value.
  Status Search(const float* query, std::size_t k, std::size_t expansion_search,
                std::vector<Match>* out) const;
  /// Exact nearest keys by brute force.
  Status SearchExact(const float* query, std::size_t k, std::vector<Match>* out) const;

  /// Up to k nearest keys of one query among the keys `allow` accepts,
  /// ascending distance. The walk continues through rejected nodes until it
  /// has collected max(k, expansion) accepted candidates (or exhausted what
  /// it can reach), so `expansion` also bounds how many accepted candidates
  /// are ranked: raise it as the accepted fraction falls. Runs under the
  /// shared lock whatever the expansion (it is passed as the wanted count,
  /// not by changing the index's ef). `allow` is called from this thread,
  /// once per visited node; it must be cheap and must not call back into the
  /// index. expansion 0 = the index's current value.
  Status FilteredSearch(const float* query, std::size_t k, std::size_t expansion,
                        const std::function<bool(Key)>& allow, std::vector<Match>* out) const;
  /// Distances from one query to the indexed vectors of `keys` (n of them),
  /// in the index's metric and scalar kind, appended to `out` in input order;
  /// keys not in the index are skipped. For exact search over few keys.
  Status ScoreKeys(const float* query, const Key* keys, std::size_t n,
                   std::vector<Match>* out) const;

  /// Writes the checkpoint (payload, then footer) to `file`, which the caller
  /// opened (normally on a ".tmp" name) and then syncs, closes and renames.
  Result<CheckpointInfo> SaveCheckpoint(WritableFile* file,
                                        const CheckpointIdentity& identity) const;

  /// Walks the graph from its entry point, down the levels and over the whole
  /// of level 0, through removed nodes too (searches do), and reports every
  /// live key it does not reach (see hnsw_graph.h). O(vectors + edges) time,
  /// 5 bytes per node of memory; also updates last_unreachable(). Works on a
  /// view. Callers must exclude AddBatch/Remove while it runs.
  Result<ReachabilityReport> CheckReachability() const;

  /// Which live vectors RepairReachability searches for themselves.
  enum class SelfQueries {
    kNone,
    /// The write path and checkpoints: the vectors AddBatch added since the
    /// last check; and, when the repair walks, the vectors whose level-0
    /// in-degree fell since the last walk to at most M/3, and a scrub of two
    /// more vectors per vector added since the last walk, round robin over
    /// the whole index.
    kAdded,
    /// Builds: every live vector.
    kAll,
  };

  /// With `walk_first` (the default), makes every unreachable live vector
  /// reachable again: each one is linked on level 0 from the nearest reachable
  /// vectors that an HNSW search for its own vector finds (at expansion
  /// max(expansion_add, expansion_search)), up to two in-edges, into lists
  /// with room first; only if none has room, a full list gives up an edge to
  /// a removed node or to its most redundant neighbour (one with at least two
  /// in-edges), so the degree bound holds. Walks again until nothing is
  /// unreachable (at most 4 walks).
  ///
  /// Then, unless `self_queries` is kNone, the self-query check: searches the
  /// chosen vectors for themselves (k=8, the collection's expansion_search;
  /// replayed by hnsw_graph.h's SelfSearch) and links each one a search
  /// misses from the nearest vectors that search ended at, so that the next
  /// search for it follows the same path and then the new edge. Each edit can
  /// divert other searches: the check searches again exactly those whose last
  /// search read an edited list (up to 8 rounds). Then walks (and relinks)
  /// again if it linked anything. Without `walk_first` it only appends edges.
  /// docs/reachability.md has the costs and the reasons.
  ///
  /// Callers must exclude AddBatch/Remove. The walks and the edits hold the
  /// lock exclusively (searches wait); the self-query searches hold it shared
  /// (searches run meanwhile). Memory: besides the walk's 6 bytes per vector,
  /// the check keeps the lists each of its searches read (about 40 bytes per
  /// search on Fashion-MNIST). Every edge change is complete on its own, so
  /// stopping at any point (an error, or the crash point
  /// "reachability.mid_repair") leaves a valid, searchable graph. NotSupported
  /// on a view; Internal if USearch fails a search; IOError when out of memory.
  Result<ReachabilityRepair> RepairReachability(SelfQueries self_queries = SelfQueries::kNone,
                                                bool walk_first = true);

  /// Live keys that an HNSW search for their own vector (k results, the
  /// given expansion) does not return, ascending. Replays USearch's search
  /// (hnsw_graph.h's SelfSearch, which stops as soon as it reaches the
  /// vector) instead of running it, so it needs no USearch thread context and
  /// costs a fraction of k searches per vector; the tests check that it agrees
  /// with Search. Runs on `threads` threads under the shared lock; callers
  /// must exclude AddBatch/Remove. IOError when out of memory.
  Result<std::vector<Key>> FindSelfQueryMisses(std::size_t k, std::size_t expansion,
                                               std::size_t threads) const;

  /// Unreachable live vectors found by the last CheckReachability, or left by
  /// the last RepairReachability; 0 before either ran.
  std::uint64_t last_unreachable() const;

  /// True when the index is a memory-mapped view of a checkpoint (immutable).
  bool is_view() const;
  /// Live vectors.
  std::size_t size() const;
  /// Vectors removed (deleted or replaced by an upsert) since this index was
  /// built, plus free slots found in the checkpoint it was loaded from. USearch
  /// reuses removed slots through its update path, and a graph that saw much
  /// of this churn loses recall; Quiver compacts (rebuilds) past a threshold.
  std::size_t removed_slots() const;
  /// Bytes of memory used (USearch's estimate).
  std::size_t memory_bytes() const;
  /// All live keys, ascending.
  std::vector<Key> Keys() const;
  /// Reads the stored vector of `key` back as float32 (lossy for f16/bf16/i8).
  bool GetVector(Key key, float* out) const;
  /// Name of the distance kernel in use: "avx512" or "avx2" for Quiver's own
  /// float32 kernels (f32 collections; f32_distance.h), else the NumKong ISA
  /// USearch dispatched to (e.g. "skylake", "icelake").
  std::string simd_kernel() const;

  /// Opaque state (defined in hnsw_index.cc).
  struct Impl;

 private:
  explicit HnswIndex(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// The distance between two float32 vectors of `dims` elements in `metric`,
/// with the conventions of the index (see f32_distance.h): Quiver's float32
/// kernels where the CPU has them, else a float64 reference loop. For
/// re-ranking with the float32 embeddings kept in SQLite. Reentrant.
float F32Distance(Metric metric, const float* a, const float* b, std::size_t dims);

/// Capabilities NumKong found on this CPU, e.g. "serial haswell skylake".
std::string SimdCapabilities();
/// USearch's version, e.g. "2.26.2".
std::string UsearchVersion();

}  // namespace quiver::index

#endif  // QUIVER_INDEX_HNSW_INDEX_H_
