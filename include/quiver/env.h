// Copyright (c) Quiver authors.
//
// Env: the filesystem seam (after LevelDB's include/leveldb/env.h). Every
// file operation on index checkpoints and on the LOCK goes through an Env, so
// that tests can inject faults (EIO, ENOSPC, lost unsynced data) at exact
// points. SQLite performs its own I/O and does not use the Env.
//
// Thread safety: an Env is used concurrently by all of a store's threads; a
// file object is used by one thread at a time.

#ifndef QUIVER_ENV_H_
#define QUIVER_ENV_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "quiver/status.h"

namespace quiver {

/// A file being written sequentially. Data is durable only after Sync() returns OK.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  /// Appends `n` bytes; loops over short writes. IOError on failure (incl. ENOSPC).
  virtual Status Append(const void* data, std::size_t n) = 0;
  /// fsync(2): flushes data and metadata to stable storage.
  virtual Status Sync() = 0;
  /// Closes the descriptor; further calls fail. Does not sync.
  virtual Status Close() = 0;
};

/// A file read sequentially from its start.
class SequentialFile {
 public:
  virtual ~SequentialFile() = default;
  /// Reads up to `n` bytes into `buffer`; `*read` = bytes read, 0 at end of file.
  virtual Status Read(std::size_t n, void* buffer, std::size_t* read) = 0;
};

/// A held lock on a file; released when destroyed.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

class Env {
 public:
  virtual ~Env() = default;

  /// The process-wide POSIX Env. Never destroyed.
  static Env* Default();

  /// Creates or truncates `path` for writing.
  virtual Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) = 0;
  /// NotFound if `path` does not exist.
  virtual Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& path) = 0;
  /// rename(2): atomically replaces `to`. Durable only after SyncDir of the parent.
  virtual Status RenameFile(const std::string& from, const std::string& to) = 0;
  /// unlink(2). NotFound if missing.
  virtual Status RemoveFile(const std::string& path) = 0;
  /// Creates `path` and missing parents (mkdir -p). OK if it exists. Each
  /// directory it creates is durable on return: the parent's entry is fsynced
  /// (else a power cut could lose the directory with the files later synced
  /// into it).
  virtual Status CreateDirs(const std::string& path) = 0;
  /// Removes an empty directory.
  virtual Status RemoveDir(const std::string& path) = 0;
  /// fsync(2) of a directory, making renames and creations in it durable.
  virtual Status SyncDir(const std::string& path) = 0;
  /// Names (not paths) of the entries of a directory, without "." and "..".
  virtual Result<std::vector<std::string>> ListDir(const std::string& path) = 0;
  virtual bool FileExists(const std::string& path) = 0;
  /// Size in bytes. NotFound if missing.
  virtual Result<std::uint64_t> FileSize(const std::string& path) = 0;
  /// Takes an exclusive, non-blocking advisory lock (flock) on `path`,
  /// creating it if needed. Busy if another process holds it.
  virtual Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) = 0;
};

}  // namespace quiver

#endif  // QUIVER_ENV_H_
