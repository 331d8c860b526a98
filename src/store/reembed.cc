// Copyright (c) Quiver authors.
//
// Store::Reembed: every record of a collection embedded again with another
// model, swapped in with one SQLite transaction (docs/text.md §Re-embedding).

#include <algorithm>
#include <chrono>

#include "store/store_impl.h"
#include "util/crash_point.h"
#include "util/status_macros.h"

namespace quiver {

// --- Re-embedding (docs/text.md §Re-embedding) -----------------------------
// The new embeddings go into a hidden collection named kReembedPrefix +
// name; one SQLite transaction then renames the old collection to
// kRetiredPrefix + name and the hidden one to name; the old one is dropped
// last. Names with these prefixes fail ValidateCollectionName, so no user
// collection has them; an open drops any it finds (a crash mid-way).
namespace {
constexpr std::string_view kReembedPrefix = "#reembed:";
constexpr std::string_view kRetiredPrefix = "#retired:";
}  // namespace

Result<ReembedReport> StoreImpl::Reembed(const std::string& name, const ReembedOptions& options) {
  QUIVER_RETURN_IF_ERROR(ValidateCollectionName(name));
  if (!options.embedder) {
    return Status::InvalidArgument("embedder: none given; expected the new embedding model");
  }
  const auto start = std::chrono::steady_clock::now();
  const EmbedderInfo info = options.embedder->info();
  std::shared_ptr<CollectionImpl> old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    QUIVER_RETURN_IF_ERROR(CheckOpen());
    if (options_.read_only) return Status::NotSupported("the store is open read-only");
    QUIVER_ASSIGN_OR_RETURN(old, LoadLocked(name));
  }
  CollectionConfig config = old->config();
  config.dimensions = info.dimensions;
  config.metric = info.metric;
  config.model_id = info.id;
  config.model_version = info.version;
  QUIVER_RETURN_IF_ERROR(config.Validate().WithContext("the new model's configuration"));
  embedders_->Put(options.embedder);

  ReembedReport report;
  report.config = config;
  std::shared_ptr<CollectionImpl> fresh;
  Status held = old->HoldWrites([&]() -> Status {
    // 1. Every record must have text (or be dropped on request): checked
    //    before anything is written.
    std::uint64_t total = 0;
    std::vector<Key> without_text;
    ScanOptions scan;
    scan.limit = 1000;
    scan.include_metadata = false;
    for (;;) {
      QUIVER_ASSIGN_OR_RETURN(ScanPage page, old->Scan(scan));
      for (const Record& r : page.records) {
        ++total;
        if (r.text.empty()) without_text.push_back(r.key);
      }
      if (page.next_cursor.empty()) break;
      scan.cursor = page.next_cursor;
    }
    if (!without_text.empty() && !options.drop_records_without_text) {
      std::string keys;
      for (std::size_t i = 0; i < without_text.size() && i < 10; ++i) {
        keys += (i ? ", " : "") + std::to_string(without_text[i]);
      }
      return Status::FailedPrecondition(fmt::format(
          "collection '{}': {} of {} records have no text to re-embed (keys {}{}); delete "
          "them, or re-embed with --drop-records-without-text to leave them out",
          name, without_text.size(), total, keys, without_text.size() > 10 ? ", ..." : ""));
    }

    // 2. A hidden collection with the new configuration (a leftover of a
    //    crashed re-embedding is dropped first).
    const std::string hidden = std::string(kReembedPrefix) + name;
    QUIVER_RETURN_IF_ERROR(DropHiddenByName(hidden));
    QUIVER_ASSIGN_OR_RETURN(auto entry, db_->CreateCollection(hidden, config));
    const std::int64_t fresh_id = entry.id;
    RecoveryReport recovery;
    QUIVER_ASSIGN_OR_RETURN(
        fresh, CollectionImpl::Open(MakeContext(fresh_id), std::move(entry), &recovery));

    // 3. Copy every record, its embedding left for the hidden collection to
    //    make from the text with the new model (its embedder, Put above).
    //    In insertion order, so that the copies are written in it and keep it.
    scan = ScanOptions{};
    scan.order = ScanOrder::kInsertion;
    scan.limit = std::max<std::size_t>(options.embedder->info().max_batch, 256);
    for (;;) {
      QUIVER_ASSIGN_OR_RETURN(ScanPage page, old->Scan(scan));
      std::vector<Record> records;
      records.reserve(page.records.size());
      for (Record& r : page.records) {
        if (r.text.empty()) {
          ++report.dropped_without_text;
          continue;
        }
        r.embedding.clear();
        records.push_back(std::move(r));
      }
      if (!records.empty()) {
        QUIVER_RETURN_IF_ERROR(fresh->Upsert(records).WithContext(
            fmt::format("the page of records from key {}", records.front().key)));
      }
      report.records += records.size();
      if (options.progress) options.progress(report.records + report.dropped_without_text, total);
      if (page.next_cursor.empty()) break;
      scan.cursor = page.next_cursor;
    }
    QUIVER_RETURN_IF_ERROR(fresh->Checkpoint());
    QUIVER_RETURN_IF_ERROR(crash_point::MaybeCrash("reembed.before_swap"));

    // 4. The swap: one transaction names the new collection `name`.
    QUIVER_RETURN_IF_ERROR(
        db_->SwapCollectionNames(old->id(), std::string(kRetiredPrefix) + name, fresh_id, name));
    old->MarkReplacedWhileHeld();  // writes waiting for the lock now fail
    return crash_point::MaybeCrash("reembed.after_swap");
  });
  if (!held.ok()) {
    // Nothing was swapped unless the failure came after it (a crash point).
    if (fresh && !old->IsReplaced()) {
      fresh->MarkDropped();
      (void)db_->DropCollection(fresh->id());
      RemoveIndexDir(fresh->id());
    }
    return held.WithContext("re-embedding '" + name + "'");
  }

  // 5. Publish the new collection and drop the old one's table and files.
  fresh->SetNameBeforePublishing(name);
  {
    std::lock_guard<std::mutex> lock(mu_);
    collections_[name] = fresh;
  }
  Status dropped = db_->DropCollection(old->id());
  if (dropped.ok()) {
    RemoveIndexDir(old->id());
  } else {
    log_.Warn(
        "collection '{}': the replaced collection could not be dropped ({}); the next "
        "open drops it",
        name, dropped.ToString());
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log_.Info("collection '{}': re-embedded {} records with {}@{} in {:.1f} s ({}{})", name,
            report.records, info.id, info.version, report.seconds, config.ToString(),
            report.dropped_without_text
                ? fmt::format(", {} records without text left out", report.dropped_without_text)
                : "");
  return report;
}

/// Drops the hidden collection `hidden_name` (kReembedPrefix/kRetiredPrefix) if it exists.
Status StoreImpl::DropHiddenByName(const std::string& hidden_name) {
  QUIVER_ASSIGN_OR_RETURN(auto entries, db_->ListCollections());
  for (const auto& e : entries) {
    if (e.name != hidden_name) continue;
    QUIVER_RETURN_IF_ERROR(db_->DropCollection(e.id));
    RemoveIndexDir(e.id);
  }
  return Status::Ok();
}

}  // namespace quiver
