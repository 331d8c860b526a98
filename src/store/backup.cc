// Copyright (c) Quiver authors.
//
// Store::Backup: a consistent copy of a store in use (docs/durability.md §7).

#include <algorithm>
#include <chrono>

#include "store/store_impl.h"
#include "util/layout.h"
#include "util/status_macros.h"

namespace quiver {

Status StoreImpl::Backup(const std::string& dest) {
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
  QUIVER_RETURN_IF_ERROR(env_->CreateDirs(layout::IndexesDir(dest)));
  std::uint64_t bytes = 0;
  for (const auto& e : entries) {
    if (e.manifest.generation == 0) continue;
    const std::string to_dir = layout::IndexDir(dest, e.id);
    QUIVER_RETURN_IF_ERROR(env_->CreateDirs(to_dir));
    QUIVER_ASSIGN_OR_RETURN(
        std::uint64_t copied,
        CopyFile(layout::CheckpointPath(layout::IndexDir(dir_, e.id), e.manifest.generation),
                 layout::CheckpointPath(to_dir, e.manifest.generation)));
    QUIVER_RETURN_IF_ERROR(env_->SyncDir(to_dir));
    bytes += copied;
  }
  QUIVER_RETURN_IF_ERROR(env_->SyncDir(layout::IndexesDir(dest)));
  QUIVER_RETURN_IF_ERROR(db_->BackupTo(layout::DatabasePath(dest)));
  gate.unlock();
  // Another process (a server beside `quiver backup`) may have checkpointed
  // between the file copies and the database snapshot; make the copy's
  // files match the copy's manifests.
  QUIVER_ASSIGN_OR_RETURN(bytes, ReconcileBackupFiles(dest, entries, bytes));
  QUIVER_RETURN_IF_ERROR(env_->SyncDir(dest));
  QUIVER_ASSIGN_OR_RETURN(std::uint64_t db_bytes, env_->FileSize(layout::DatabasePath(dest)));
  log_.Info("backup of {} written to {}: {} collections, {:.1f} MiB in {:.0f} ms", dir_, dest,
            entries.size(), static_cast<double>(bytes + db_bytes) / (1 << 20), MillisSince(start));
  return Status::Ok();
}

Status StoreImpl::ValidateBackupTarget(const std::string& dest) {
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
Result<std::uint64_t> StoreImpl::ReconcileBackupFiles(
    const std::string& dest, const std::vector<storage::CatalogEntry>& copied,
    std::uint64_t bytes) {
  QUIVER_ASSIGN_OR_RETURN(auto copy_db,
                          storage::Database::Open(layout::DatabasePath(dest), /*read_only=*/true,
                                                  options_.synchronous));
  QUIVER_ASSIGN_OR_RETURN(auto in_copy, copy_db->ListCollections());
  for (const auto& e : in_copy) {
    auto before =
        std::find_if(copied.begin(), copied.end(), [&](const auto& c) { return c.id == e.id; });
    const std::uint64_t had = before == copied.end() ? 0 : before->manifest.generation;
    if (had == e.manifest.generation) continue;
    const std::string to_dir = layout::IndexDir(dest, e.id);
    if (had > 0) (void)env_->RemoveFile(layout::CheckpointPath(to_dir, had));
    if (e.manifest.generation == 0) continue;
    const std::string file = layout::CheckpointFileName(e.manifest.generation);
    QUIVER_RETURN_IF_ERROR(env_->CreateDirs(to_dir));
    auto copied_now =
        CopyFile(layout::CheckpointPath(layout::IndexDir(dir_, e.id), e.manifest.generation),
                 layout::CheckpointPath(to_dir, e.manifest.generation));
    if (copied_now.ok()) {
      bytes += *copied_now;
      QUIVER_RETURN_IF_ERROR(env_->SyncDir(to_dir));
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
Result<std::uint64_t> StoreImpl::CopyFile(const std::string& from, const std::string& to) {
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

}  // namespace quiver
