// Copyright (c) Quiver authors.
//
// Recovery of one collection at open (docs/durability.md §4): leftover
// files removed, the checkpoint loaded and verified or the index rebuilt from
// SQLite, then the change log replayed. CollectionImpl's other parts are in
// collection_impl.cc, checkpoint.cc and reachability.cc.

#include <algorithm>
#include <chrono>

#include "collection/collection_impl.h"
#include "util/crash_point.h"
#include "util/layout.h"
#include "util/logging.h"
#include "util/status_macros.h"

namespace quiver {
namespace {

/// Records read from SQLite per batch added to the index during a build.
constexpr std::size_t kRebuildBatch = 4096;

}  // namespace

// --- Recovery (docs/durability.md §4) ------------------------------------------

Result<std::shared_ptr<CollectionImpl>> CollectionImpl::Open(const CollectionContext& context,
                                                             storage::CatalogEntry entry,
                                                             RecoveryReport* report) {
  std::shared_ptr<CollectionImpl> collection(new CollectionImpl(context, std::move(entry)));
  QUIVER_RETURN_IF_ERROR(collection->Recover(report));
  return collection;
}

Status CollectionImpl::Recover(RecoveryReport* report) {
  if (!context_.read_only) {
    QUIVER_RETURN_IF_ERROR(context_.env->CreateDirs(context_.index_dir));
    QUIVER_RETURN_IF_ERROR(RemoveLeftoverFiles(report));
  }
  QUIVER_RETURN_IF_ERROR(crash_point::MaybeCrash("open.after_cleanup"));

  const storage::Manifest& m = entry_.manifest;
  auto start = std::chrono::steady_clock::now();
  if (m.generation > 0) {
    index::CheckpointIdentity identity{entry_.id, m.generation, m.applied_seq};
    // A read-only store maps the checkpoint instead of copying it (see
    // ReplayChangeLog for when it must copy after all).
    const auto mode =
        context_.read_only ? index::HnswIndex::LoadMode::kView : index::HnswIndex::LoadMode::kCopy;
    auto loaded = index::HnswIndex::LoadCheckpoint(
        context_.env, CheckpointPath(m.generation), entry_.config, identity, m.checksum,
        context_.search_threads, context_.add_threads, mode);
    if (loaded.ok() && (*loaded)->size() == m.vector_count) {
      SetIndex(std::shared_ptr<index::HnswIndex>(std::move(loaded).value()));
      applied_seq_ = m.applied_seq;
      report->vectors_loaded = m.vector_count;
    } else {
      const std::string why = loaded.ok() ? "it holds " + std::to_string((*loaded)->size()) +
                                                " vectors, the manifest says " +
                                                std::to_string(m.vector_count)
                                          : loaded.status().ToString();
      context_.log->Warn(
          "collection '{}': checkpoint {} is unusable and will not be served ({}); rebuilding "
          "the index from SQLite",
          entry_.name, CheckpointPath(m.generation), why);
    }
  }
  const bool repair = !index() && m.generation > 0;
  if (!index()) QUIVER_RETURN_IF_ERROR(RebuildFromStorage(report));
  report->load_ms = MillisSince(start);
  QUIVER_RETURN_IF_ERROR(crash_point::MaybeCrash("open.after_load"));

  start = std::chrono::steady_clock::now();
  QUIVER_RETURN_IF_ERROR(ReplayChangeLog(report));
  report->replay_ms = MillisSince(start);
  report->mapped = index()->is_view();
  QUIVER_RETURN_IF_ERROR(crash_point::MaybeCrash("open.after_replay"));

  if (repair && !context_.read_only) {
    // Replace the unusable file now, so that the next open is cheap again and
    // the manifest never names a file that cannot be served.
    std::lock_guard<std::mutex> lock(write_mu_);
    Status s = CheckpointLocked();
    if (!s.ok()) {
      context_.log->Error("collection '{}': could not write a repaired checkpoint: {}", entry_.name,
                          s.ToString());
    }
  }
  return Status::Ok();
}

Status CollectionImpl::RemoveLeftoverFiles(RecoveryReport* report) {
  QUIVER_ASSIGN_OR_RETURN(auto names, context_.env->ListDir(context_.index_dir));
  for (const std::string& name : names) {
    // Keep only the checkpoint the manifest names: a ".tmp" is an interrupted
    // checkpoint; any other generation was superseded (or never committed).
    // A name Quiver does not write is not Quiver's to remove.
    const std::optional<layout::IndexFileName> file = layout::ParseIndexFileName(name);
    if (!file) continue;
    if (file->kind == layout::IndexFileKind::kCheckpoint &&
        file->generation == entry_.manifest.generation) {
      continue;
    }
    Status s = context_.env->RemoveFile(context_.index_dir + "/" + name);
    if (!s.ok() && s.code() != StatusCode::kNotFound) {
      // Best effort: the manifest never names a leftover, so it is never
      // served; the next open tries again.
      context_.log->Warn("collection '{}': could not remove leftover index file {}: {}",
                         entry_.name, name, s.ToString());
      continue;
    }
    context_.log->Info("collection '{}': removed leftover index file {}", entry_.name, name);
    ++report->files_removed;
  }
  return Status::Ok();
}

Result<std::shared_ptr<index::HnswIndex>> CollectionImpl::BuildFromStorage(
    const CollectionConfig& config, std::uint64_t* snapshot_seq,
    const std::function<void(std::uint64_t, std::uint64_t)>& progress) {
  QUIVER_ASSIGN_OR_RETURN(
      std::shared_ptr<index::HnswIndex> index,
      index::HnswIndex::Create(config, context_.search_threads, context_.add_threads));
  std::uint64_t total = 0;
  if (progress) {
    QUIVER_ASSIGN_OR_RETURN(total, context_.db->CountRecords(entry_.id));
  }
  std::vector<Key> keys;
  std::vector<float> vectors;
  const std::size_t dims = config.dimensions;
  std::uint64_t done = 0, reported = 0;
  auto flush = [&]() -> Status {
    Status s = index->AddBatch(keys.data(), vectors.data(), keys.size());
    done += keys.size();
    keys.clear();
    vectors.clear();
    if (progress && (done - reported) * 100 >= total) {
      progress(done, total);
      reported = done;
    }
    return s;
  };
  QUIVER_RETURN_IF_ERROR(context_.db->ScanEmbeddings(
      entry_.id, config.dimensions,
      [&](Key key, const float* embedding) -> Status {
        keys.push_back(key);
        vectors.insert(vectors.end(), embedding, embedding + dims);
        return keys.size() >= kRebuildBatch ? flush() : Status::Ok();
      },
      snapshot_seq));
  QUIVER_RETURN_IF_ERROR(flush());
  if (progress && reported != done) progress(done, total);
  // A build searches every vector for itself: replayed searches that stop at
  // the vector cost about 6% of the build (docs/reachability.md).
  QUIVER_RETURN_IF_ERROR(
      RepairReachability(index.get(), "build", index::HnswIndex::SelfQueries::kAll));
  return index;
}

Status CollectionImpl::RebuildFromStorage(RecoveryReport* report) {
  std::uint64_t snapshot_seq = 0;
  QUIVER_ASSIGN_OR_RETURN(auto index, BuildFromStorage(entry_.config, &snapshot_seq, nullptr));
  // The scan saw every change up to snapshot_seq; later ones are replayed.
  applied_seq_ = snapshot_seq;
  report->vectors_loaded = index->size();
  report->rebuilt = true;
  if (index->size() > 0 || entry_.manifest.generation > 0) {
    MarkDirty(std::max<std::uint64_t>(1, index->size()));
  }
  SetIndex(std::move(index));
  return Status::Ok();
}

Status CollectionImpl::ReplayChangeLog(RecoveryReport* report) {
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t last_seq = 0;
  QUIVER_ASSIGN_OR_RETURN(
      auto changes, context_.db->ChangesSince(entry_.id, dimensions_, applied_seq_, &last_seq));
  std::vector<Key> upsert_keys;
  std::vector<float> vectors;
  std::vector<Key> delete_keys;
  for (auto& change : changes) {
    if (change.embedding) {
      upsert_keys.push_back(change.key);
      vectors.insert(vectors.end(), change.embedding->begin(), change.embedding->end());
    } else {
      delete_keys.push_back(change.key);
    }
  }
  const double read_ms = MillisSince(start);
  auto index = this->index();
  if (!changes.empty() && index->is_view()) {
    // A mapped checkpoint is immutable: replaying changes needs a copy.
    const storage::Manifest& m = entry_.manifest;
    context_.log->Info(
        "collection '{}': {} changes since checkpoint {}; reading it into memory to replay "
        "them instead of mapping it",
        entry_.name, changes.size(), m.generation);
    QUIVER_ASSIGN_OR_RETURN(
        std::unique_ptr<index::HnswIndex> copy,
        index::HnswIndex::LoadCheckpoint(
            context_.env, CheckpointPath(m.generation), entry_.config,
            index::CheckpointIdentity{entry_.id, m.generation, m.applied_seq}, m.checksum,
            context_.search_threads, context_.add_threads, index::HnswIndex::LoadMode::kCopy));
    index = std::shared_ptr<index::HnswIndex>(std::move(copy));
    SetIndex(index);
  }
  QUIVER_RETURN_IF_ERROR(index->Remove(delete_keys.data(), delete_keys.size()));
  QUIVER_RETURN_IF_ERROR(index->AddBatch(upsert_keys.data(), vectors.data(), upsert_keys.size()));
  if (!changes.empty()) {
    context_.log->Info(
        "collection '{}': replay read {} changed keys from SQLite in {:.0f} ms, "
        "applied {} upserts and {} deletes to the index in {:.0f} ms",
        entry_.name, changes.size(), read_ms, upsert_keys.size(), delete_keys.size(),
        MillisSince(start) - read_ms);
  }
  applied_seq_ = last_seq;
  report->changes_replayed = changes.size();
  if (!changes.empty()) MarkDirty(changes.size());
  // Also when nothing was replayed: a checkpoint written before Quiver
  // repaired graphs may hold unreachable nodes. The replayed vectors are
  // searched for themselves, and so are those whose neighbourhoods the replay
  // changed (see SelfQueries::kAdded).
  return RepairReachability(index.get(), "open", index::HnswIndex::SelfQueries::kAdded);
}

}  // namespace quiver
