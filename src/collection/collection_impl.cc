// Copyright (c) Quiver authors.

#include "collection/collection_impl.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <unordered_set>

#include "util/crash_point.h"
#include "util/status_macros.h"

namespace quiver {
namespace {

constexpr std::size_t kRebuildBatch = 4096;
constexpr std::size_t kMaxExpansionSearch = 65536;
constexpr std::size_t kMaxIdBytes = 1024;
/// Compact (rebuild) the index at a checkpoint once this many vectors were
/// removed or replaced since it was built, and at least a quarter of its size.
constexpr std::size_t kCompactMinRemoved = 1000;
/// The write path walks the graph for unreachable nodes (and relinks them)
/// once the vectors added since the last walk reach 1/kWalkEveryFraction of
/// the index: a walk costs O(vectors + edges), so this keeps its amortized
/// cost to a few reads per added vector. Checkpoints always walk first.
constexpr std::uint64_t kWalkEveryFraction = 64;

double MillisSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

bool EndsWith(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// Index of the first non-finite value in v[0..n), or n.
std::size_t FirstNonFinite(const float* v, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isfinite(v[i])) return i;
  }
  return n;
}

}  // namespace

CollectionImpl::CollectionImpl(const CollectionContext& context, storage::CatalogEntry entry)
    : context_(context), dimensions_(entry.config.dimensions), entry_(std::move(entry)) {}

std::string CollectionImpl::CheckpointPath(std::uint64_t generation) const {
  return context_.index_dir + "/" + std::to_string(generation) + ".usearch";
}

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
  const std::string current = std::to_string(entry_.manifest.generation) + ".usearch";
  for (const std::string& name : names) {
    // Keep only the checkpoint the manifest names: a ".tmp" is an interrupted
    // checkpoint; any other generation was superseded (or never committed).
    if (name == current && entry_.manifest.generation > 0) continue;
    if (!EndsWith(name, ".usearch") && !EndsWith(name, ".usearch.tmp")) continue;
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
  // A build can afford a self-query check of every vector (docs/reachability.md).
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
  // repaired graphs may hold unreachable nodes.
  return RepairReachability(index.get(), "open", index::HnswIndex::SelfQueries::kAdded);
}

// --- State checks and validation ---------------------------------------------------

Status CollectionImpl::CheckUsable(bool write) const {
  if (replaced_) {
    return Status::NotFound("collection '" + entry_.name +
                            "' was replaced by a re-embedding; get the collection again");
  }
  if (dropped_) return Status::NotFound("collection '" + entry_.name + "' was dropped");
  if (closed_) return Status::FailedPrecondition("the store is closed");
  if (!write) return Status::Ok();
  if (context_.read_only) {
    return Status::NotSupported("the store is open read-only; writes to '" + entry_.name +
                                "' are rejected");
  }
  std::lock_guard<std::mutex> lock(fatal_mu_);
  if (!fatal_error_.empty()) {
    return Status::FailedPrecondition("collection '" + entry_.name +
                                      "' is read-only after an I/O failure (" + fatal_error_ +
                                      "); reopen the store to recover");
  }
  return Status::Ok();
}

void CollectionImpl::Latch(const Status& cause) {
  std::lock_guard<std::mutex> lock(fatal_mu_);
  if (fatal_error_.empty()) fatal_error_ = cause.ToString();
  context_.log->Error("collection '{}': {}; writes are rejected until the store is reopened",
                      entry_.name, cause.ToString());
}

Status CollectionImpl::ValidateBatch(const std::vector<Record>& records, bool check_keys) const {
  if (records.empty()) {
    return Status::InvalidArgument("records: the batch is empty; expected 1.." +
                                   std::to_string(kMaxBatchSize) + " records");
  }
  if (records.size() > kMaxBatchSize) {
    return Status::InvalidArgument("records: " + std::to_string(records.size()) +
                                   " in one batch; expected at most " +
                                   std::to_string(kMaxBatchSize));
  }
  const std::size_t dims = dimensions_;
  std::unordered_set<Key> keys;
  std::unordered_set<std::string_view> ids;
  for (std::size_t i = 0; i < records.size(); ++i) {
    const Record& r = records[i];
    const std::string at = "records[" + std::to_string(i) + "]";
    if (check_keys) {
      if (r.key == kReservedKey) {
        return Status::InvalidArgument(at +
                                       ".key: 18446744073709551615 is reserved; expected "
                                       "0..18446744073709551614");
      }
      if (!keys.insert(r.key).second) {
        return Status::InvalidArgument(at + ".key: " + std::to_string(r.key) +
                                       " appears twice in the batch; keys must be unique");
      }
    }
    if (r.embedding.empty() && r.text.empty()) {
      const CollectionConfig config = this->config();
      return Status::InvalidArgument(
          at + ".embedding: missing; expected " + std::to_string(dims) + " values" +
          (config.model_id.empty() ? std::string(" (the collection's dimensions)")
                                   : " or a text for the collection's model '" + config.model_id +
                                         "@" + config.model_version + "' to embed"));
    }
    if (r.embedding.size() != dims) {
      return Status::InvalidArgument(at + ".embedding: " + std::to_string(r.embedding.size()) +
                                     " values; expected " + std::to_string(dims) +
                                     " (the collection's dimensions)");
    }
    std::size_t bad = FirstNonFinite(r.embedding.data(), dims);
    if (bad < dims) {
      return Status::InvalidArgument(at + ".embedding[" + std::to_string(bad) +
                                     "]: is NaN or infinite; expected a finite float");
    }
    if (!r.metadata.empty()) {
      auto parsed = nlohmann::json::parse(r.metadata, nullptr, /*allow_exceptions=*/false);
      if (parsed.is_discarded()) {
        return Status::InvalidArgument(at + ".metadata: is not valid JSON; expected a JSON object");
      }
      if (!parsed.is_object()) {
        return Status::InvalidArgument(at + ".metadata: is a JSON " +
                                       std::string(parsed.type_name()) +
                                       "; expected a JSON object");
      }
    }
    if (!r.id.empty()) {
      if (r.id.size() > kMaxIdBytes) {
        return Status::InvalidArgument(at + ".id: " + std::to_string(r.id.size()) +
                                       " bytes; expected at most " + std::to_string(kMaxIdBytes));
      }
      if (!ids.insert(r.id).second) {
        return Status::InvalidArgument(at + ".id: '" + r.id +
                                       "' appears twice in the batch; ids must be unique");
      }
    }
  }
  return Status::Ok();
}

Status CollectionImpl::ValidateQueries(const float* queries, std::size_t num_queries,
                                       std::size_t k) const {
  if (k == 0 || k > kMaxSearchK) {
    return Status::InvalidArgument("k: " + std::to_string(k) + "; expected 1.." +
                                   std::to_string(kMaxSearchK));
  }
  if (num_queries == 0 || queries == nullptr) {
    return Status::InvalidArgument("queries: none given; expected at least one query vector");
  }
  const std::size_t dims = dimensions_;
  for (std::size_t q = 0; q < num_queries; ++q) {
    std::size_t bad = FirstNonFinite(queries + q * dims, dims);
    if (bad < dims) {
      return Status::InvalidArgument("queries[" + std::to_string(q) + "][" + std::to_string(bad) +
                                     "]: is NaN or infinite; expected a finite float");
    }
  }
  return Status::Ok();
}

// --- Write path (docs/durability.md §2) --------------------------------------------

Status CollectionImpl::ApplyUpserts(const std::vector<Record>& records,
                                    const std::vector<Key>& keys, std::uint64_t last_seq) {
  const std::size_t dims = dimensions_;
  std::vector<float> vectors(records.size() * dims);
  for (std::size_t i = 0; i < records.size(); ++i) {
    std::copy(records[i].embedding.begin(), records[i].embedding.end(), vectors.begin() + i * dims);
  }
  Status s = index()->AddBatch(keys.data(), vectors.data(), keys.size());
  if (!s.ok()) {
    // The batch is committed (durable) but the in-memory index missed it.
    // Reopening replays the change log and repairs the index.
    Latch(s.WithContext("applying a committed batch to the index"));
    return Status::Internal("the batch is committed, but the index could not apply it (" +
                            s.ToString() + "); reopen the store to replay it");
  }
  applied_seq_ = last_seq;
  changes_since_walk_ += records.size();
  const auto current = index();
  // Every added vector is searched for itself (and linked if missed); the
  // whole graph is walked once 1/kWalkEveryFraction of it was added. The
  // batch is acknowledged either way; a failed repair is retried by the next
  // one, and a checkpoint never saves the graph before one succeeds.
  const bool walk = changes_since_walk_ * kWalkEveryFraction >= current->size();
  Status repaired =
      RepairReachability(current.get(), "write", index::HnswIndex::SelfQueries::kAdded, walk);
  if (!repaired.ok()) {
    context_.log->Error("collection '{}': reachability repair after a write failed: {}",
                        entry_.name, repaired.ToString());
  }
  return AfterWrite(records.size());
}

void CollectionImpl::MarkDirty(std::uint64_t changes) {
  if (changes_since_checkpoint_.fetch_add(changes) == 0) {
    dirty_since_ns_ = std::chrono::steady_clock::now().time_since_epoch().count();
  }
}

bool CollectionImpl::DirtyFor(std::chrono::steady_clock::duration age) const {
  const std::int64_t since = dirty_since_ns_;
  if (since == 0 || changes_since_checkpoint_ == 0) return false;
  const std::int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
  return now - since >= std::chrono::duration_cast<std::chrono::nanoseconds>(age).count();
}

Status CollectionImpl::AfterWrite(std::uint64_t changes) {
  MarkDirty(changes);
  const std::uint64_t every = context_.checkpoint_every_changes;
  if (every > 0 && changes_since_checkpoint_ >= every) {
    // The write is already acknowledged by SQLite; a failed checkpoint only
    // means the index must be replayed on the next open. Report it in the log
    // and in Stats(), not to this writer.
    Status s = CheckpointLocked();
    if (!s.ok())
      context_.log->Error("collection '{}': checkpoint failed: {}", entry_.name, s.ToString());
  }
  return Status::Ok();
}

void CollectionImpl::NoteStringIds(const std::vector<Record>& records) {
  const bool any =
      std::any_of(records.begin(), records.end(), [](const Record& r) { return !r.id.empty(); });
  if (any) string_ids_.store(kSome);
}

Result<bool> CollectionImpl::MayHaveStringIds() {
  int state = string_ids_.load();
  if (state != kUnknown) return state == kSome;
  QUIVER_ASSIGN_OR_RETURN(bool some, context_.db->HasStringIds(entry_.id));
  // A writer may have stored kSome meanwhile; it wins over this probe.
  string_ids_.compare_exchange_strong(state, some ? kSome : kNone);
  return string_ids_.load() == kSome;
}

Status CollectionImpl::Upsert(const std::vector<Record>& input) {
  QUIVER_RETURN_IF_ERROR(CheckUsable(/*write=*/true));
  std::vector<Record> embedded;
  QUIVER_ASSIGN_OR_RETURN(const std::vector<Record>* batch, EmbedMissing(input, &embedded));
  const std::vector<Record>& records = *batch;
  QUIVER_RETURN_IF_ERROR(ValidateBatch(records, /*check_keys=*/true));
  std::lock_guard<std::mutex> lock(write_mu_);
  QUIVER_RETURN_IF_ERROR(CheckUsable(/*write=*/true));
  NoteStringIds(records);
  QUIVER_ASSIGN_OR_RETURN(auto written,
                          context_.db->UpsertRecords(entry_.id, dimensions_, records));
  std::vector<Key> keys(records.size());
  std::transform(records.begin(), records.end(), keys.begin(),
                 [](const Record& r) { return r.key; });
  return ApplyUpserts(records, keys, written.last_seq);
}

Result<std::vector<Key>> CollectionImpl::Insert(const std::vector<Record>& input) {
  QUIVER_RETURN_IF_ERROR(CheckUsable(/*write=*/true));
  std::vector<Record> embedded;
  QUIVER_ASSIGN_OR_RETURN(const std::vector<Record>* batch, EmbedMissing(input, &embedded));
  const std::vector<Record>& records = *batch;
  QUIVER_RETURN_IF_ERROR(ValidateBatch(records, /*check_keys=*/false));
  std::lock_guard<std::mutex> lock(write_mu_);
  QUIVER_RETURN_IF_ERROR(CheckUsable(/*write=*/true));
  std::vector<Key> keys;
  NoteStringIds(records);
  QUIVER_ASSIGN_OR_RETURN(auto written,
                          context_.db->AppendRecords(entry_.id, dimensions_, records, &keys));
  QUIVER_RETURN_IF_ERROR(ApplyUpserts(records, keys, written.last_seq));
  return keys;
}

Result<std::size_t> CollectionImpl::Delete(const std::vector<Key>& keys) {
  QUIVER_RETURN_IF_ERROR(CheckUsable(/*write=*/true));
  if (keys.size() > kMaxBatchSize) {
    return Status::InvalidArgument("keys: " + std::to_string(keys.size()) +
                                   " in one batch; expected at most " +
                                   std::to_string(kMaxBatchSize));
  }
  std::lock_guard<std::mutex> lock(write_mu_);
  QUIVER_RETURN_IF_ERROR(CheckUsable(/*write=*/true));
  QUIVER_ASSIGN_OR_RETURN(auto written, context_.db->DeleteRecords(entry_.id, keys));
  return ApplyDeletes(keys, written);
}

Result<std::size_t> CollectionImpl::ApplyDeletes(const std::vector<Key>& keys,
                                                 const storage::WriteResult& written) {
  if (written.changed == 0) return std::size_t{0};
  Status s = index()->Remove(keys.data(), keys.size());
  if (!s.ok()) {
    Latch(s.WithContext("applying a committed delete to the index"));
    return Status::Internal("the delete is committed, but the index could not apply it (" +
                            s.ToString() + "); reopen the store to replay it");
  }
  applied_seq_ = written.last_seq;
  QUIVER_RETURN_IF_ERROR(AfterWrite(written.changed));
  return written.changed;
}

// --- Reads ----------------------------------------------------------------------------

Result<std::vector<std::optional<Record>>> CollectionImpl::Get(const std::vector<Key>& keys) {
  QUIVER_RETURN_IF_ERROR(CheckUsable(/*write=*/false));
  if (keys.size() > kMaxBatchSize) {
    return Status::InvalidArgument("keys: " + std::to_string(keys.size()) +
                                   " in one batch; expected at most " +
                                   std::to_string(kMaxBatchSize));
  }
  return context_.db->GetRecords(entry_.id, keys, /*with_embedding=*/true);
}

Result<std::vector<std::vector<Match>>> CollectionImpl::Search(const float* queries,
                                                               std::size_t num_queries,
                                                               const SearchOptions& options) {
  QUIVER_RETURN_IF_ERROR(CheckUsable(/*write=*/false));
  QUIVER_RETURN_IF_ERROR(ValidateQueries(queries, num_queries, options.k));
  if (options.expansion_search > kMaxExpansionSearch) {
    return Status::InvalidArgument("expansion_search: " + std::to_string(options.expansion_search) +
                                   "; expected 0.." + std::to_string(kMaxExpansionSearch));
  }
  if (!options.filter.empty() || options.rerank || options.strategy != SearchStrategy::kAuto ||
      options.max_distance != std::numeric_limits<float>::infinity()) {
    return SearchPlanned(queries, num_queries, options);
  }
  const std::size_t dims = dimensions_;
  std::vector<std::vector<Match>> results(num_queries);
  const auto index = this->index();
  for (std::size_t q = 0; q < num_queries; ++q) {
    QUIVER_RETURN_IF_ERROR(
        index->Search(queries + q * dims, options.k, options.expansion_search, &results[q]));
  }
  QUIVER_RETURN_IF_ERROR(FillResults(options, &results));
  return results;
}

Status CollectionImpl::FillResults(const SearchOptions& options,
                                   std::vector<std::vector<Match>>* results) {
  if (!options.include_text && !options.include_metadata) {
    if (!options.include_id) return Status::Ok();
    // Asked after the index search: a string id written before a match was
    // indexed is seen here (see string_ids_).
    QUIVER_ASSIGN_OR_RETURN(bool named, MayHaveStringIds());
    if (!named) return Status::Ok();
  }
  std::vector<bool> found;
  for (std::vector<Match>& matches : *results) {
    QUIVER_RETURN_IF_ERROR(context_.db->FillMatches(entry_.id, &matches, options.include_text,
                                                    options.include_metadata, &found));
    // A record deleted between the index search and the lookup is dropped.
    std::size_t kept = 0;
    for (std::size_t i = 0; i < matches.size(); ++i) {
      if (!found[i]) continue;
      if (kept != i) matches[kept] = std::move(matches[i]);
      ++kept;
    }
    matches.resize(kept);
  }
  return Status::Ok();
}

Result<std::vector<std::vector<Match>>> CollectionImpl::SearchExact(const float* queries,
                                                                    std::size_t num_queries,
                                                                    std::size_t k) {
  QUIVER_RETURN_IF_ERROR(CheckUsable(/*write=*/false));
  QUIVER_RETURN_IF_ERROR(ValidateQueries(queries, num_queries, k));
  std::vector<std::vector<Match>> results(num_queries);
  const auto index = this->index();
  for (std::size_t q = 0; q < num_queries; ++q) {
    QUIVER_RETURN_IF_ERROR(index->SearchExact(queries + q * dimensions_, k, &results[q]));
  }
  return results;
}

Result<std::uint64_t> CollectionImpl::Count() {
  QUIVER_RETURN_IF_ERROR(CheckUsable(/*write=*/false));
  return context_.db->CountRecords(entry_.id);
}

Result<CollectionStats> CollectionImpl::Stats() {
  QUIVER_RETURN_IF_ERROR(CheckUsable(/*write=*/false));
  CollectionStats stats;
  stats.name = entry_.name;
  stats.id = entry_.id;
  stats.config = config();
  QUIVER_ASSIGN_OR_RETURN(stats.records, context_.db->CountRecords(entry_.id));
  QUIVER_ASSIGN_OR_RETURN(stats.change_log_length, context_.db->ChangeLogLength(entry_.id));
  const auto index = this->index();
  stats.applied_seq = applied_seq_;
  {
    // USearch's size and memory counters are not safe to read during an add.
    std::lock_guard<std::mutex> lock(write_mu_);
    stats.index_vectors = index->size();
    stats.index_memory_bytes = index->memory_bytes();
    stats.checkpoint_generation = entry_.manifest.generation;
    stats.checkpoint_applied_seq = entry_.manifest.applied_seq;
    stats.checkpoint_bytes = entry_.manifest.file_bytes;
  }
  QUIVER_ASSIGN_OR_RETURN(stats.indexed_fields, context_.db->ListFieldIndexes(entry_.id));
  stats.last_checkpoint_ms = last_checkpoint_ms_;
  stats.unreachable_vectors = index->last_unreachable();
  stats.simd_kernel = index->simd_kernel();
  stats.index_mapped = index->is_view();
  std::lock_guard<std::mutex> lock(fatal_mu_);
  stats.fatal_error = fatal_error_;
  return stats;
}

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
  const std::string tmp_path = final_path + ".tmp";
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

// --- Verify (I4, I7) ----------------------------------------------------------------

Result<VerifyReport> CollectionImpl::Verify() {
  QUIVER_RETURN_IF_ERROR(CheckUsable(/*write=*/false));
  // Hold writes off so SQLite and the index are compared at one instant.
  std::lock_guard<std::mutex> lock(write_mu_);
  VerifyReport report;
  report.collection = entry_.name;
  auto problem = [&](std::string line) { report.problems.push_back(std::move(line)); };

  QUIVER_ASSIGN_OR_RETURN(std::vector<Key> stored, context_.db->ListKeys(entry_.id));
  std::sort(stored.begin(), stored.end());
  const auto index = this->index();
  const std::vector<Key> indexed = index->Keys();
  report.records_checked = stored.size();
  report.index_vectors_checked = indexed.size();

  std::vector<Key> only_stored, only_indexed;
  std::set_difference(stored.begin(), stored.end(), indexed.begin(), indexed.end(),
                      std::back_inserter(only_stored));
  std::set_difference(indexed.begin(), indexed.end(), stored.begin(), stored.end(),
                      std::back_inserter(only_indexed));
  for (Key k : only_stored)
    problem("key " + std::to_string(k) + ": in SQLite, missing from the index");
  for (Key k : only_indexed) {
    problem("key " + std::to_string(k) + ": in the index, not in SQLite (deleted record served)");
  }
  auto reachability = index->CheckReachability();
  if (!reachability.ok()) {
    problem("graph walk: " + reachability.status().ToString());
  } else {
    report.unreachable = reachability->unreachable.size();
    for (Key k : reachability->unreachable) {
      problem("key " + std::to_string(k) +
              ": unreachable in the HNSW graph (no search can return it; a checkpoint or "
              "`quiver rebuild` repairs it)");
    }
  }

  // Every stored embedding must be well-formed and, for f32 indexes, equal to
  // the indexed vector bit for bit.
  const std::size_t dims = dimensions_;
  std::vector<float> from_index(dims);
  std::uint64_t snapshot_seq = 0;
  Status scan = context_.db->ScanEmbeddings(
      entry_.id, dimensions_,
      [&](Key key, const float* embedding) -> Status {
        if (FirstNonFinite(embedding, dims) < dims) {
          problem("key " + std::to_string(key) + ": stored embedding has a NaN or infinity");
        }
        if (entry_.config.scalar == ScalarKind::kF32 && index->GetVector(key, from_index.data()) &&
            !std::equal(from_index.begin(), from_index.end(), embedding)) {
          problem("key " + std::to_string(key) +
                  ": indexed vector differs from the stored embedding");
        }
        return Status::Ok();
      },
      &snapshot_seq);
  if (!scan.ok()) problem("records: " + scan.ToString());

  const storage::Manifest& m = entry_.manifest;
  if (m.generation > 0) {
    Status file = index::HnswIndex::VerifyCheckpointFile(context_.env, CheckpointPath(m.generation),
                                                         {entry_.id, m.generation, m.applied_seq},
                                                         m.checksum);
    if (!file.ok()) problem("checkpoint: " + file.ToString());
  }
  VerifyFullText(&report);
  return report;
}

void CollectionImpl::VerifyFullText(VerifyReport* report) {
  // Records whose text is compared with the index by a phrase query; the
  // rowid sets are compared in full (storage::Database::VerifyFullText).
  constexpr std::size_t kFullTextSamples = 256;
  auto problem = [&](std::string line) { report->problems.push_back(std::move(line)); };
  auto checked = context_.db->VerifyFullText(entry_.id, kFullTextSamples);
  if (!checked.ok()) {
    problem("full-text index: " + checked.status().ToString());
    return;
  }
  const storage::FullTextReport& fts = *checked;
  if (!fts.present) {
    problem(
        "full-text index: missing (the store was made before full-text search; open it for "
        "writing once to build it)");
    return;
  }
  for (Key k : fts.missing) {
    problem("key " + std::to_string(k) + ": in SQLite, missing from the full-text index");
  }
  for (Key k : fts.extra) {
    problem("key " + std::to_string(k) + ": in the full-text index, not in SQLite");
  }
  for (Key k : fts.stale) {
    problem("key " + std::to_string(k) + ": the full-text index does not hold its current text");
  }
  if (!fts.integrity_error.empty()) {
    problem("full-text index: FTS5 integrity-check against the records failed: " +
            fts.integrity_error);
  }
}

Status CollectionImpl::RepairReachability(index::HnswIndex* index, std::string_view after,
                                          index::HnswIndex::SelfQueries self_queries, bool walk) {
  const bool current = index == this->index().get();
  if (index->is_view()) {
    // Immutable: count only, for Stats and Verify.
    QUIVER_ASSIGN_OR_RETURN(auto walked, index->CheckReachability());
    if (!walked.unreachable.empty()) {
      context_.log->Warn(
          "collection '{}': {} of {} vectors are unreachable in the mapped checkpoint; open the "
          "store for writing to repair them",
          entry_.name, walked.unreachable.size(), walked.live_vectors);
    }
    return Status::Ok();
  }
  QUIVER_ASSIGN_OR_RETURN(auto repair, index->RepairReachability(self_queries, walk));
  // Only after a walk and repair that ran to their end.
  if (current && walk) changes_since_walk_ = 0;
  // A write's few self-query misses are routine; say only what a walk found.
  if (repair.found == 0 && (after == "write" || repair.self_query_missed == 0)) {
    return Status::Ok();
  }
  // The relinked graph differs from the checkpoint: save it at the next one.
  if (after == "open") MarkDirty(1);
  const std::string what = fmt::format(
      "collection '{}': after {}, {} of {} vectors were unreachable in the HNSW graph and {} "
      "missed by a search for themselves; relinked {} ({} edges replaced), {} remain "
      "unreachable, {} walks, {:.1f} ms",
      entry_.name, after, repair.found, index->size(), repair.self_query_missed, repair.relinked,
      repair.edges_replaced, repair.remaining, repair.walks, repair.ms);
  if (repair.remaining == 0) {
    context_.log->Info("{}", what);
  } else {
    context_.log->Warn("{}", what);
  }
  return Status::Ok();
}

std::shared_ptr<index::HnswIndex> CollectionImpl::index() const {
  std::lock_guard<std::mutex> lock(index_mu_);
  return index_;
}

void CollectionImpl::SetIndex(std::shared_ptr<index::HnswIndex> index) {
  std::lock_guard<std::mutex> lock(index_mu_);
  index_ = std::move(index);
}

CollectionConfig CollectionImpl::config() const {
  std::lock_guard<std::mutex> lock(config_mu_);
  return entry_.config;
}

Status CollectionImpl::Rebuild(const RebuildOptions& options) {
  QUIVER_RETURN_IF_ERROR(CheckUsable(/*write=*/true));
  std::lock_guard<std::mutex> lock(write_mu_);
  QUIVER_RETURN_IF_ERROR(CheckUsable(/*write=*/true));
  CollectionConfig next = config();
  if (options.scalar) next.scalar = *options.scalar;
  if (options.connectivity) next.connectivity = *options.connectivity;
  if (options.expansion_add) next.expansion_add = *options.expansion_add;
  if (options.expansion_search) next.expansion_search = *options.expansion_search;
  QUIVER_RETURN_IF_ERROR(next.Validate());

  const auto start = std::chrono::steady_clock::now();
  std::uint64_t snapshot_seq = 0;
  QUIVER_ASSIGN_OR_RETURN(auto rebuilt, BuildFromStorage(next, &snapshot_seq, options.progress));
  // Writes wait on write_mu_, so the scan saw every change up to applied_seq_.
  const auto previous = index();
  SetIndex(std::move(rebuilt));
  changes_since_walk_ = 0;  // BuildFromStorage repaired the new graph
  {
    std::lock_guard<std::mutex> config_lock(config_mu_);
    std::swap(entry_.config, next);  // `next` now holds the old configuration
  }
  MarkDirty(1);
  const CollectionConfig installed = config();
  Status s = CheckpointLocked(&installed);
  if (!s.ok()) {
    // Put the old index back: SQLite still names the old configuration.
    SetIndex(previous);
    std::lock_guard<std::mutex> config_lock(config_mu_);
    entry_.config = next;
    return s.WithContext("rebuild of '" + entry_.name + "'");
  }
  context_.log->Info("collection '{}': rebuilt index ({}) of {} vectors in {:.0f} ms", entry_.name,
                     installed.ToString(), index()->size(), MillisSince(start));
  return Status::Ok();
}

Status CollectionImpl::HoldWrites(const std::function<Status()>& body) {
  QUIVER_RETURN_IF_ERROR(CheckUsable(/*write=*/true));
  std::lock_guard<std::mutex> lock(write_mu_);
  QUIVER_RETURN_IF_ERROR(CheckUsable(/*write=*/true));
  return body();
}

void CollectionImpl::MarkDropped() {
  std::lock_guard<std::mutex> lock(write_mu_);
  dropped_ = true;
}

void CollectionImpl::MarkClosed() {
  std::lock_guard<std::mutex> lock(write_mu_);
  closed_ = true;
}

}  // namespace quiver
