// Copyright (c) Quiver authors.
//
// An Env for crash tests (after LevelDB's FaultInjectionTestEnv): wraps
// another Env, can fail the Nth operation of a kind with EIO or ENOSPC, and
// can simulate a power cut by undoing everything not yet made durable:
//   - bytes appended to a file since its last successful Sync are dropped;
//   - a file created, or a rename done, since the last SyncDir of its
//     directory is undone (the file vanishes; the rename is reversed).
// SQLite does not go through an Env: its commits are durable on return
// (synchronous=FULL), which is what a power cut leaves of it.
//
// Thread-safe.

#ifndef QUIVER_ENV_FAULT_INJECTION_ENV_H_
#define QUIVER_ENV_FAULT_INJECTION_ENV_H_

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "quiver/env.h"

namespace quiver {

class FaultInjectionEnv final : public Env {
 public:
  /// Kinds of operations that can be made to fail: the write side of a
  /// checkpoint, and the read side of open (kOpenRead = NewSequentialFile,
  /// kRead = one SequentialFile::Read, kListDir, kFileSize).
  enum class Op {
    kWrite,
    kSync,
    kRename,
    kSyncDir,
    kRemove,
    kOpenWrite,
    kOpenRead,
    kRead,
    kListDir,
    kFileSize
  };
  /// What a failing operation reports. kLie applies to kWrite only: the
  /// write reports success but its bytes are dropped (a lying device or
  /// library; what strace's `inject=write:retval=N` does).
  enum class Error { kEIO, kENOSPC, kLie };

  explicit FaultInjectionEnv(Env* base) : base_(base) {}

  /// The `n`th (1-based) operation of kind `op` from now fails with `error`;
  /// later ones succeed again. Replaces any earlier arming.
  void FailNth(Op op, int n, Error error);
  /// Operations of kind `op` seen since construction (armed or not).
  int Count(Op op) const;
  /// True if an armed failure was delivered.
  bool Fired() const;

  /// Simulates a power cut: undoes everything not made durable (see above).
  Status DropUnsyncedData();

  // Env.
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override;
  Result<std::unique_ptr<SequentialFile>> NewSequentialFile(const std::string& path) override;
  Status RenameFile(const std::string& from, const std::string& to) override;
  Status RemoveFile(const std::string& path) override;
  Status CreateDirs(const std::string& path) override { return base_->CreateDirs(path); }
  Status RemoveDir(const std::string& path) override { return base_->RemoveDir(path); }
  Status SyncDir(const std::string& path) override;
  Result<std::vector<std::string>> ListDir(const std::string& path) override;
  bool FileExists(const std::string& path) override { return base_->FileExists(path); }
  Result<std::uint64_t> FileSize(const std::string& path) override;
  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) override {
    return base_->LockFile(path);
  }

  /// Called by the wrapped files. Returns a failure if this operation is the
  /// armed one; sets `*lie` (if given) instead when the armed error is kLie.
  Status Intercept(Op op, const std::string& path, bool* lie = nullptr);
  void RecordAppend(const std::string& path, std::uint64_t bytes);
  void RecordSync(const std::string& path);

 private:
  struct FileState {
    std::uint64_t size = 0;
    std::uint64_t synced_size = 0;
  };
  struct PendingRename {
    std::string from, to;
  };

  Env* const base_;
  mutable std::mutex mu_;
  std::map<Op, int> counts_;
  Op armed_op_ = Op::kWrite;
  int armed_at_ = 0;  // absolute count at which to fail; 0 = disarmed
  Error armed_error_ = Error::kEIO;
  bool fired_ = false;
  std::map<std::string, FileState> files_;
  /// Files created (not yet dir-synced) and renames not yet dir-synced, per directory.
  std::map<std::string, std::vector<std::string>> unsynced_creates_;
  std::map<std::string, std::vector<PendingRename>> unsynced_renames_;
};

}  // namespace quiver

#endif  // QUIVER_ENV_FAULT_INJECTION_ENV_H_
