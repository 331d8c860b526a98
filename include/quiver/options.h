// Copyright (c) Quiver authors.
//
// Configuration of a store and of its collections.

#ifndef QUIVER_OPTIONS_H_
#define QUIVER_OPTIONS_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "quiver/status.h"

namespace quiver {

class Env;
class Embedder;

/// Finds the embedder of a model tag: called by the store with a
/// collection's (model_id, model_version) the first time that collection
/// needs to embed text. Returns NotFound when it knows no such model (the
/// message should say which models it knows). Must be thread-safe. See
/// quiver/embedder.h.
using EmbedderResolver = std::function<Result<std::shared_ptr<Embedder>>(
    const std::string& model_id, const std::string& model_version)>;

/// Distance function of a collection. Every metric is reported as a distance:
/// LOWER IS CLOSER, for all three.
enum class Metric : std::uint8_t {
  /// Cosine distance, 1 - cos(a, b), in [0, 2]. Vectors need not be normalized.
  kCos = 0,
  /// Inner-product distance, 1 - a.b. Meant for unit-length vectors (then it
  /// equals the cosine distance); for others it can be negative.
  kIp = 1,
  /// Squared Euclidean distance, sum((a_i - b_i)^2), in [0, inf).
  kL2sq = 2,
};

/// Element type in which the HNSW index stores vectors. SQLite always keeps
/// the original float32 embedding, so the index can be rebuilt at another kind.
/// Bytes per dimension: f32 = 4, f16 = 2, bf16 = 2, i8 = 1. Lower precision
/// costs recall. i8 keeps only each vector's direction: USearch scales every
/// vector to unit length before rounding it to [-127, 127]. So i8 suits cos,
/// and ip or l2sq only for unit-length embeddings; on others it returns wrong
/// neighbours (recall@10 0.46 on raw Fashion-MNIST pixels with l2sq). Creating
/// such a collection logs a warning.
enum class ScalarKind : std::uint8_t { kF32 = 0, kF16 = 1, kBF16 = 2, kI8 = 3 };

/// "cos", "ip", "l2sq".
std::string_view MetricName(Metric metric);
/// Parses the canonical names "cos", "ip" or "l2sq"; InvalidArgument otherwise.
Result<Metric> ParseMetric(std::string_view name);
/// "f32", "f16", "bf16", "i8".
std::string_view ScalarKindName(ScalarKind kind);
/// Parses "f32", "f16", "bf16" or "i8". InvalidArgument otherwise.
Result<ScalarKind> ParseScalarKind(std::string_view name);

/// The fixed configuration of a collection, stored in the catalog at creation.
/// Defaults follow USearch's (connectivity 16, expansion_add 128,
/// expansion_search 64), which give recall@10 above 0.97 on Fashion-MNIST.
struct CollectionConfig {
  /// Number of float32 components of every embedding. Required, 1..65536.
  std::uint32_t dimensions = 0;
  Metric metric = Metric::kCos;
  ScalarKind scalar = ScalarKind::kF32;
  /// HNSW "M": edges per node on upper levels (2x on level 0). 2..256.
  /// Higher = better recall, more memory (about 2*M*8 bytes per vector), slower inserts.
  std::uint32_t connectivity = 16;
  /// HNSW ef_construction: candidate list size while inserting. 1..4096.
  std::uint32_t expansion_add = 128;
  /// HNSW ef: default candidate list size while searching; a search may override it. 1..4096.
  std::uint32_t expansion_search = 64;
  /// Optional embedding-model tag. When non-empty, opening the collection with
  /// a different tag is refused (invariant I6).
  std::string model_id;
  std::string model_version;

  /// InvalidArgument naming the first field out of range.
  Status Validate() const;
  /// One line, e.g. "dims=784 metric=l2sq scalar=f32 M=16 ef_add=128 ef=64 model=-".
  std::string ToString() const;
};

/// Severity of a log line passed to StoreOptions::logger.
enum class LogLevel : std::uint8_t { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

/// Receives Quiver's log lines. Called from any thread; must be thread-safe.
using Logger = std::function<void(LogLevel level, std::string_view message)>;

/// The default Logger: writes lines at or above `min_level` to standard
/// error as "2026-11-22T06:14:20.572Z INFO message" (UTC, milliseconds), one
/// write per line so that lines of concurrent threads never interleave.
Logger StderrLogger(LogLevel min_level = LogLevel::kInfo);

/// How SQLite syncs commits in WAL mode.
enum class Synchronous : std::uint8_t {
  /// Default. Every commit is fsynced before it is acknowledged: survives power loss.
  kFull = 0,
  /// Survives a process crash (kill -9) but can lose the last commits on power
  /// loss or an OS crash. Faster for bulk loading. SQLite's PRAGMA synchronous=NORMAL.
  kNormal = 1,
};

/// Options of Store::Open.
struct StoreOptions {
  /// Create the directory and an empty store when it does not exist. If false,
  /// opening a missing store fails with NotFound.
  bool create_if_missing = true;
  /// Open without the write LOCK; every write fails with NotSupported.
  bool read_only = false;
  /// Recover each collection on its first use instead of in Store::Open, so
  /// that opening a store with many or large collections costs nothing until
  /// one is used (`quiver list` needs no index at all). Recovery errors then
  /// surface from GetCollection. Default false: Open recovers everything.
  bool open_collections_lazily = false;
  /// Before recovering a collection, run SQLite's quick_check over its records
  /// table (every page read and its b-tree structure checked) and quarantine
  /// the collection if it fails (CollectionInfo::damage). Cost: one read of
  /// the table: 0.34 s for 60,000 records of 784 floats (a 238 MB database,
  /// in the page cache; docs/durability.md §4). Default false: only the catalog tables are
  /// checked at every open; damage in a records table is then found by
  /// `quiver verify` or when a read reaches it (Corruption).
  bool check_records_at_open = false;
  /// See Synchronous. Default kFull.
  Synchronous synchronous = Synchronous::kFull;
  /// Checkpoint a collection's index after this many changes since the last
  /// checkpoint (0 = never automatically). Cost: one serialization of the
  /// whole index (about the index's size in bytes written and fsynced); while it
  /// runs, writes to that collection wait and searches continue. Default 100000.
  std::uint64_t checkpoint_every_changes = 100000;
  /// Checkpoint a collection that has unsaved changes once its oldest unsaved
  /// change is this many seconds old (0 = never by time). A background thread
  /// checks once a second. Bounds the replay work of the next open after a
  /// crash for slowly-written collections. Default 300.
  std::uint32_t checkpoint_interval_seconds = 300;
  /// Checkpoint every collection with unsaved changes when the store closes. Default true.
  bool checkpoint_on_close = true;
  /// Number of concurrent searches per collection that can run without waiting
  /// for a USearch thread context (0 = 2 * hardware threads, at least 4).
  std::uint32_t max_concurrent_searches = 0;
  /// Threads one batch insert (or an index rebuild) uses to add vectors to
  /// the HNSW graph (0 = hardware threads). More threads import faster; 1 makes
  /// graph construction deterministic and avoids USearch issue #735
  /// (concurrent adds can, rarely, leave a node that no search reaches; the
  /// record stays in SQLite and a rebuild restores it).
  std::uint32_t insert_threads = 0;
  /// Filesystem seam for the index files and the LOCK; nullptr = Env::Default().
  /// Not owned; must outlive the store. SQLite does its own I/O.
  Env* env = nullptr;
  /// Where log lines go; empty = standard error, at kInfo and above.
  Logger logger;
  /// Finds the embedding model of a collection's model tag, the first time
  /// that collection embeds text (Upsert of text-only records, SearchText).
  /// Empty = collections cannot embed text (vector operations still work).
  /// The CLI and server pass embed::DefaultResolver (quiver/embedders.h).
  EmbedderResolver embedder_resolver;
};

}  // namespace quiver

#endif  // QUIVER_OPTIONS_H_
