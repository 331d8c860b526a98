// Copyright (c) Quiver authors.

#include "collection/collection_impl.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <unordered_set>

#include "util/crash_point.h"
#include "util/layout.h"
#include "util/logging.h"
#include "util/status_macros.h"

namespace quiver {
namespace {

constexpr std::size_t kMaxExpansionSearch = 65536;
constexpr std::size_t kMaxIdBytes = 1024;
/// The write path walks the graph for unreachable nodes (and relinks them)
/// once the vectors added since the last walk reach 1/kWalkEveryFraction of
/// the index: a walk costs O(vectors + edges), so this keeps its amortized
/// cost to a few reads per added vector. Checkpoints always walk first.
constexpr std::uint64_t kWalkEveryFraction = 64;

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
  return layout::CheckpointPath(context_.index_dir, generation);
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
  // whole graph is walked once 1/kWalkEveryFraction of it was added, and then
  // also the vectors whose in-degree the writes lowered and a scrub window
  // are searched (SelfQueries::kAdded). The batch is acknowledged either way;
  // a failed repair is retried by the next one, and a checkpoint never saves
  // the graph before one succeeds.
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
