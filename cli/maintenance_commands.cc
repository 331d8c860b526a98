// Copyright (c) Quiver authors.
//
// Operator commands: rebuild, backup, restore.

#include <fmt/format.h>

#include <chrono>
#include <memory>
#include <optional>

#include "cli/command.h"
#include "cli/progress.h"
#include "quiver/embedders.h"

namespace quiver::cli {
namespace {

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

struct RebuildFlags {
  std::string data_dir;
  std::string collection;
  std::optional<std::string> scalar;
  std::optional<std::uint32_t> connectivity;
  std::optional<std::uint32_t> expansion_add;
  std::optional<std::uint32_t> expansion_search;
  std::string embedder;  // re-embed with this model
  bool drop_records_without_text = false;
};

/// `rebuild --embedder`: Store::Reembed with progress in texts/s.
int RunReembed(const RebuildFlags& flags, const GlobalOptions& global) {
  if (flags.scalar || flags.connectivity || flags.expansion_add || flags.expansion_search) {
    return ReportError(Status::InvalidArgument(
        "--embedder re-embeds with the index parameters kept; change them with a second "
        "rebuild"));
  }
  Result<std::shared_ptr<Embedder>> model = embed::ResolveEmbedder(flags.embedder);
  if (!model.ok()) return ReportError(model.status().WithContext("--embedder"));
  Result<std::unique_ptr<Store>> store = OpenStore(flags.data_dir, OpenMode::kReadWrite, global);
  if (!store.ok()) return ReportError(store.status());
  Result<std::shared_ptr<Collection>> collection = (*store)->GetCollection(flags.collection);
  if (!collection.ok()) return ReportError(collection.status());
  const CollectionConfig before = (*collection)->config();
  Result<std::uint64_t> count = (*collection)->Count();
  if (!count.ok()) return ReportError(count.status());
  collection->reset();
  ReembedOptions options;
  options.embedder = *model;
  options.drop_records_without_text = flags.drop_records_without_text;
  Progress progress("re-embed " + flags.collection, std::max<std::uint64_t>(1, *count));
  options.progress = [&](std::uint64_t done, std::uint64_t) { progress.Update(done, done); };
  Result<ReembedReport> report = (*store)->Reembed(flags.collection, options);
  progress.Finish();
  if (!report.ok()) return ReportError(report.status());
  fmt::print("re-embedded {} of {} in {:.2f} s ({:.0f} texts/s)\n  before: {}\n  after:  {}\n",
             Plural(report->records, "record"), flags.collection, report->seconds,
             report->seconds > 0 ? static_cast<double>(report->records) / report->seconds : 0.0,
             before.ToString(), report->config.ToString());
  if (report->dropped_without_text > 0) {
    fmt::print("{} without text left out (--drop-records-without-text)\n",
               Plural(report->dropped_without_text, "record"));
  }
  Status closed = CloseStore(**store);
  return closed.ok() ? kExitOk : ReportError(closed);
}

int RunRebuild(const RebuildFlags& flags, const GlobalOptions& global) {
  if (!flags.embedder.empty()) return RunReembed(flags, global);
  RebuildOptions options;
  if (flags.scalar) {
    Result<ScalarKind> scalar = ParseScalarKind(*flags.scalar);
    if (!scalar.ok()) return ReportError(scalar.status().WithContext("--scalar"));
    options.scalar = *scalar;
  }
  options.connectivity = flags.connectivity;
  options.expansion_add = flags.expansion_add;
  options.expansion_search = flags.expansion_search;

  Result<OpenedCollection> opened =
      OpenExistingCollection(flags.data_dir, flags.collection, OpenMode::kReadWrite, global);
  if (!opened.ok()) return ReportError(opened.status());
  std::unique_ptr<Progress> progress;
  options.progress = [&](std::uint64_t done, std::uint64_t total) {
    if (!progress) progress = std::make_unique<Progress>("rebuild " + flags.collection, total);
    progress->Update(done, done);
  };
  const CollectionConfig before = opened->collection->config();
  const auto start = std::chrono::steady_clock::now();
  Status rebuilt = opened->collection->Rebuild(options);
  if (progress) progress->Finish();
  if (!rebuilt.ok()) return ReportError(rebuilt);
  fmt::print("rebuilt {} in {:.2f} s\n  before: {}\n  after:  {}\n", flags.collection,
             SecondsSince(start), before.ToString(), opened->collection->config().ToString());
  Status closed = CloseStore(*opened->store);
  return closed.ok() ? kExitOk : ReportError(closed);
}

struct BackupFlags {
  std::string data_dir;
  std::string destination;
};

/// Copies the store at `source` (opened read-only when `read_only`) into
/// `destination` and checks the copy with Verify.
int CopyStore(const std::string& source, const std::string& destination, OpenMode mode,
              const GlobalOptions& global, std::string_view what) {
  const auto start = std::chrono::steady_clock::now();
  {
    Result<std::unique_ptr<Store>> store = OpenStore(source, mode, global);
    if (!store.ok()) return ReportError(store.status());
    Status copied = (*store)->Backup(destination);
    if (!copied.ok()) return ReportError(copied);
  }
  const double copy_seconds = SecondsSince(start);
  // The copy must open as a store of its own and agree with itself (I7).
  Result<std::unique_ptr<Store>> copy = OpenStore(destination, OpenMode::kReadOnly, global);
  if (!copy.ok()) return ReportError(copy.status().WithContext("opening the copy"));
  Result<std::vector<CollectionInfo>> collections = (*copy)->ListCollections();
  if (!collections.ok()) return ReportError(collections.status());
  std::uint64_t records = 0;
  for (const CollectionInfo& info : *collections) {
    Result<std::shared_ptr<Collection>> c = (*copy)->GetCollection(info.name);
    if (!c.ok()) return ReportError(c.status());
    Result<VerifyReport> report = (*c)->Verify();
    if (!report.ok()) return ReportError(report.status());
    if (!report->clean()) {
      for (const std::string& problem : report->problems) {
        fmt::print(stderr, "{}: {}\n", info.name, problem);
      }
      return ReportError(Status::Corruption("the copy in " + destination + " fails verify"));
    }
    records += report->records_checked;
  }
  fmt::print("{} {} to {} in {:.2f} s: {} collections, {} records, verified\n", what, source,
             destination, copy_seconds, collections->size(), records);
  return kExitOk;
}

}  // namespace

Command AddRebuildCommand(CLI::App& app, const GlobalOptions& global) {
  CLI::App* command = AddSubcommand(
      app, "rebuild", "Rebuild a collection's index from SQLite, optionally with new parameters.",
      "Builds a new HNSW index from the embeddings stored in SQLite, writes its checkpoint and\n"
      "swaps it in atomically; the old index serves searches until the swap (in `quiver serve`\n"
      "too). Needs memory for both indexes. Dimensions and metric never change, except with\n"
      "--embedder, which re-embeds every record's text with a new model (searches use the old\n"
      "model until the swap; a crash before it leaves the old one in charge).\n"
      "Example: quiver rebuild --data ./store --collection docs --scalar f16 --connectivity 32\n"
      "         quiver rebuild --data ./store --collection docs --embedder "
      "openai:nomic-embed-text");
  auto flags = std::make_shared<RebuildFlags>();
  AddDataOption(command, &flags->data_dir);
  AddCollectionOption(command, &flags->collection)->required();
  command->add_option("--scalar", flags->scalar, "Index element type: f32, f16, bf16 or i8");
  command->add_option("--connectivity,-M", flags->connectivity, "HNSW M, 2..256");
  command->add_option("--expansion-add", flags->expansion_add, "HNSW ef_construction, 1..4096");
  command->add_option("--expansion-search", flags->expansion_search,
                      "Default HNSW ef of searches, 1..4096");
  command->add_option("--embedder", flags->embedder,
                      "Re-embed every record's text with this model (use-lite, onnx:DIR, "
                      "openai:MODEL) into new embeddings and a new index, swapped in at the end; "
                      "the dimensions may change");
  command->add_flag("--drop-records-without-text", flags->drop_records_without_text,
                    "With --embedder: leave out (delete) records that have no text, instead of "
                    "refusing");
  return {command, [flags, &global] { return RunRebuild(*flags, global); }};
}

Command AddBackupCommand(CLI::App& app, const GlobalOptions& global) {
  CLI::App* command = AddSubcommand(
      app, "backup", "Write a consistent copy of a store while it may be in use.",
      "Copies the index checkpoints, then the database with SQLite's online backup API, and\n"
      "verifies the copy. Takes no write lock: it works beside a running `quiver serve` in\n"
      "another process, and the copy holds every record committed before it began. The copy\n"
      "is a store: open it directly, or use `quiver restore`.\n"
      "Example: quiver backup --data ./store /backups/store-2026-11-22");
  auto flags = std::make_shared<BackupFlags>();
  AddDataOption(command, &flags->data_dir);
  command->add_option("DEST", flags->destination, "A new or empty directory")->required();
  return {command, [flags, &global] {
            return CopyStore(flags->data_dir, flags->destination, OpenMode::kReadOnly, global,
                             "backed up");
          }};
}

Command AddRestoreCommand(CLI::App& app, const GlobalOptions& global) {
  CLI::App* command =
      AddSubcommand(app, "restore", "Copy a backup into a new data directory and verify it.",
                    "SRC is a directory written by `quiver backup`; DEST must be new or empty.\n"
                    "Example: quiver restore /backups/store-2026-11-22 ./store");
  auto source = std::make_shared<std::string>();
  auto destination = std::make_shared<std::string>();
  command->add_option("SRC", *source, "The backup directory")->required();
  command->add_option("DEST", *destination, "A new or empty directory")->required();
  return {command, [source, destination, &global] {
            return CopyStore(*source, *destination, OpenMode::kReadOnly, global, "restored");
          }};
}

}  // namespace quiver::cli
