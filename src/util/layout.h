// Copyright (c) Quiver authors.
//
// The on-disk layout of a store: every file and directory name Quiver reads
// or writes under a data directory, and the parsers that tell Quiver's own
// files from anything else found there (docs/durability.md §1). Recovery,
// checkpoints, backup and orphan cleanup name files only through this module,
// so the layout is spelled in exactly one place. Modelled on LevelDB's
// db/filename.h.
//
//   <dir>/quiver.db (+ -wal, -shm)               SQLite in WAL mode: the source of truth
//   <dir>/LOCK                                   flock'ed by the one writer process
//   <dir>/indexes/<id>/                          the index files of collection id <id>
//   <dir>/indexes/<id>/<generation>.usearch      checkpoint <generation> (decimal, >= 1)
//   <dir>/indexes/<id>/<generation>.usearch.tmp  a checkpoint being written; never read
//
// All functions are pure string functions: they touch no file and are
// thread-safe. Paths are joined with '/'; `dir` is used as given (relative or
// absolute, no trailing '/').

#ifndef QUIVER_UTIL_LAYOUT_H_
#define QUIVER_UTIL_LAYOUT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace quiver::layout {

/// "quiver.db": the SQLite database; SQLite adds "-wal" and "-shm" beside it.
inline constexpr std::string_view kDatabaseFileName = "quiver.db";
/// "LOCK": the writer's lock file (Env::LockFile).
inline constexpr std::string_view kLockFileName = "LOCK";
/// "indexes": the directory of the per-collection index directories.
inline constexpr std::string_view kIndexesDirName = "indexes";
/// Suffix of a file being written before its atomic rename (".tmp").
inline constexpr std::string_view kTempSuffix = ".tmp";

/// <dir>/quiver.db
std::string DatabasePath(std::string_view dir);
/// <dir>/LOCK
std::string LockPath(std::string_view dir);
/// <dir>/indexes
std::string IndexesDir(std::string_view dir);
/// <dir>/indexes/<collection_id>
std::string IndexDir(std::string_view dir, std::int64_t collection_id);

/// "<generation>.usearch"; generation >= 1 (0 means "no checkpoint" in a manifest).
std::string CheckpointFileName(std::uint64_t generation);
/// <index_dir>/<generation>.usearch
std::string CheckpointPath(std::string_view index_dir, std::uint64_t generation);
/// <path>.tmp: where a file is written before it is renamed to `path`.
std::string TempPath(std::string_view path);

/// The kinds of file Quiver writes into an index directory.
enum class IndexFileKind {
  kCheckpoint,      // <generation>.usearch
  kTempCheckpoint,  // <generation>.usearch.tmp (an interrupted or running write)
};

/// A file name of an index directory, parsed.
struct IndexFileName {
  IndexFileKind kind;
  std::uint64_t generation;
};

/// Parses a file name (no directory) found in an index directory. Returns
/// nullopt for any name Quiver does not write there (which cleanup must then
/// leave alone), including a generation of 0, a sign, leading zeros or one
/// that does not fit 64 bits.
std::optional<IndexFileName> ParseIndexFileName(std::string_view name);

/// Parses a directory name found under <dir>/indexes: the collection id it
/// belongs to (a decimal >= 1, no sign, no leading zeros), or nullopt.
std::optional<std::int64_t> ParseIndexDirName(std::string_view name);

}  // namespace quiver::layout

#endif  // QUIVER_UTIL_LAYOUT_H_
