// Copyright (c) Quiver authors.
//
// Checkpoints of one collection (docs/durability.md §3): compact when churned,
// repair reachability, write the index to "<g>.usearch.tmp", fsync, rename,
// fsync the directory, commit the manifest, then remove the old generation
// and trim the change log. Each step has a crash point.

#include <algorithm>
#include <chrono>

#include "collection/collection_impl.h"
#include "util/crash_point.h"
#include "util/layout.h"
#include "util/logging.h"
#include "util/status_macros.h"

namespace quiver {
namespace {

/// Compact (rebuild) the index at a checkpoint once this many vectors were
/// removed or replaced since it was built, and at least a quarter of its size.
constexpr std::size_t kCompactMinRemoved = 1000;

}  // namespace

// --- Checkpoint (docs/durability.md §3) ----------------------------------------------

bool CollectionImpl::dirty() const { return changes_since_checkpoint_ > 0; }

Status CollectionImpl::Checkpoint() {
  QUIVER_RETURN_IF_ERROR(CheckUsable(/*write=*/true));
  std::lock_guard<std::mutex> lock(write_mu_);
  QUIVER_RETURN_IF_ERROR(CheckUsable(/*write=*/true));
  return CheckpointLocked();
}

Status CollectionImpl::CompactIfChurned() {
  const auto current = index();
  const std::size_t removed = current->removed_slots();
  if (removed < std::max(kCompactMinRemoved, current->size() / 4)) return Status::Ok();
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t snapshot_seq = 0;
  QUIVER_ASSIGN_OR_RETURN(auto rebuilt, BuildFromStorage(config(), &snapshot_seq, nullptr));
  SetIndex(std::move(rebuilt));
  changes_since_walk_ = 0;  // BuildFromStorage repaired the new graph
  context_.log->Info(
      "collection '{}': compacted the index ({} vectors; {} removed or replaced since it was "
      "built) in {:.0f} ms",
      entry_.name, current->size(), removed, MillisSince(start));
  return Status::Ok();
}

Status CollectionImpl::CheckpointLocked(const CollectionConfig* new_config) {
  if (changes_since_checkpoint_ == 0 && new_config == nullptr) return Status::Ok();
  // Replaced or deleted vectors leave USearch's graph with reused slots that
  // searches reach less well; past a threshold, rebuild it before saving.
  if (new_config == nullptr) QUIVER_RETURN_IF_ERROR(CompactIfChurned());
  // Never persist a graph with unreachable nodes that a walk would find.
  if (changes_since_walk_ > 0 || index()->last_unreachable() > 0) {
    QUIVER_RETURN_IF_ERROR(
        RepairReachability(index().get(), "checkpoint", index::HnswIndex::SelfQueries::kAdded)
            .WithContext("checkpoint of '" + entry_.name + "'"));
  }
  std::shared_lock<std::shared_mutex> gate;
  if (context_.checkpoint_gate)
    gate = std::shared_lock<std::shared_mutex>(*context_.checkpoint_gate);
  const auto start = std::chrono::steady_clock::now();
  Env* env = context_.env;
  storage::Manifest next = entry_.manifest;
  next.generation = entry_.manifest.generation + 1;
  next.applied_seq = applied_seq_;
  const std::string final_path = CheckpointPath(next.generation);
  const std::string tmp_path = layout::TempPath(final_path);
  index::CheckpointIdentity identity{entry_.id, next.generation, next.applied_seq};

  // 1. Serialize into the temporary file, with its checksum footer, and fsync.
  QUIVER_RETURN_IF_ERROR(crash_point::MaybeCrash("checkpoint.before_write"));
  auto fail = [&](const Status& s, bool latch) {
    (void)env->RemoveFile(tmp_path);
    if (latch) Latch(s);
    return s.WithContext("checkpoint of '" + entry_.name + "'");
  };
  QUIVER_ASSIGN_OR_RETURN(auto file, env->NewWritableFile(tmp_path));
  auto saved = index()->SaveCheckpoint(file.get(), identity);
  if (!saved.ok()) return fail(saved.status(), /*latch=*/false);
  // A failed fsync may have dropped dirty pages while reporting them written:
  // never retry it and trust the file (the PostgreSQL "fsyncgate" lesson).
  if (Status s = file->Sync(); !s.ok()) return fail(s, /*latch=*/true);
  if (Status s = file->Close(); !s.ok()) return fail(s, /*latch=*/true);
  // Every write reported success; the file must hold every byte. A file
  // system (or an interposed library) that reports bytes it did not write
  // would otherwise leave a short file to be found only at the next open.
  auto on_disk = env->FileSize(tmp_path);
  if (!on_disk.ok()) return fail(on_disk.status(), /*latch=*/true);
  if (*on_disk != saved->file_bytes) {
    return fail(
        Status::IOError(tmp_path + " has " + std::to_string(*on_disk) +
                        " bytes after its writes reported " + std::to_string(saved->file_bytes)),
        /*latch=*/true);
  }
  QUIVER_RETURN_IF_ERROR(crash_point::MaybeCrash("checkpoint.after_sync"));

  // 2. Rename into place and make the rename durable.
  Status s = env->RenameFile(tmp_path, final_path);
  if (s.ok()) {
    QUIVER_RETURN_IF_ERROR(crash_point::MaybeCrash("checkpoint.after_rename"));
    s = env->SyncDir(context_.index_dir);
  }
  if (!s.ok()) {
    Latch(s);
    return s.WithContext("checkpoint of '" + entry_.name + "'");
  }
  QUIVER_RETURN_IF_ERROR(crash_point::MaybeCrash("checkpoint.after_dir_sync"));

  // 3. The manifest row commits the checkpoint. Until here, a crash leaves the
  // previous generation in charge and the new file is removed on open.
  next.checksum = saved->checksum;
  next.vector_count = saved->vector_count;
  next.file_bytes = saved->file_bytes;
  next.usearch_version = index::UsearchVersion();
  s = context_.db->CommitManifest(entry_.id, next, new_config);
  if (!s.ok()) {
    Latch(s);
    return s.WithContext("checkpoint of '" + entry_.name + "': manifest commit");
  }
  const storage::Manifest previous = entry_.manifest;
  entry_.manifest = next;
  changes_since_checkpoint_ = 0;
  dirty_since_ns_ = 0;
  QUIVER_RETURN_IF_ERROR(crash_point::MaybeCrash("checkpoint.after_manifest"));

  // 4. Only now is the old generation garbage, and the log it covered.
  if (previous.generation > 0) {
    s = env->RemoveFile(CheckpointPath(previous.generation));
    if (!s.ok() && s.code() != StatusCode::kNotFound) {
      context_.log->Warn("collection '{}': could not remove {}: {} (removed on next open)",
                         entry_.name, CheckpointPath(previous.generation), s.ToString());
    }
  }
  QUIVER_RETURN_IF_ERROR(crash_point::MaybeCrash("checkpoint.after_remove_old"));
  QUIVER_RETURN_IF_ERROR(context_.db->TrimChangeLog(entry_.id, next.applied_seq));
  QUIVER_RETURN_IF_ERROR(crash_point::MaybeCrash("checkpoint.after_trim"));

  last_checkpoint_ms_ = MillisSince(start);
  context_.log->Info(
      "collection '{}': checkpoint generation {} written: {} vectors, {:.1f} MiB, applied_seq {}, "
      "{:.0f} ms",
      entry_.name, next.generation, next.vector_count,
      static_cast<double>(next.file_bytes) / (1 << 20), next.applied_seq,
      last_checkpoint_ms_.load());
  return Status::Ok();
}

}  // namespace quiver
