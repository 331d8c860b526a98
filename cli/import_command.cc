// Copyright (c) Quiver authors.
//
// `quiver import`: streams a vector file into a collection, in atomic batches.

#include <fmt/format.h>

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cli/command.h"
#include "cli/formats.h"
#include "cli/progress.h"

namespace quiver::cli {
namespace {

constexpr std::size_t kDefaultBatchSize = 1000;

struct ImportFlags {
  std::string data_dir;
  std::string collection;
  std::string file;
  std::string format;  // empty = by extension
  Key offset = 0;
  std::size_t batch_size = kDefaultBatchSize;
  bool create = false;
  ConfigFlags config;  // used with --create only
};

// The collection to import into. With --create it is created when missing,
// with the flags' configuration and, unless --dims is given, the file's
// dimensions; an existing one must then match that configuration.
Result<OpenedCollection> OpenTarget(const ImportFlags& flags, std::uint32_t file_dims,
                                    const GlobalOptions& global) {
  if (!flags.create) {
    return OpenExistingCollection(flags.data_dir, flags.collection, OpenMode::kReadWrite, global);
  }
  ConfigFlags config_flags = flags.config;
  if (config_flags.dims == 0 && config_flags.embedder.empty()) config_flags.dims = file_dims;
  if (config_flags.dims == 0 && config_flags.embedder.empty()) {
    return Status::InvalidArgument(
        fmt::format("{} holds no vectors to take the dimensions from: pass --dims", flags.file));
  }
  Result<CollectionConfig> config = config_flags.ToConfig();
  if (!config.ok()) return config.status();
  Result<std::unique_ptr<Store>> store =
      OpenStore(flags.data_dir, OpenMode::kCreateIfMissing, global);
  if (!store.ok()) return store.status();
  Result<std::shared_ptr<Collection>> collection =
      (*store)->OpenCollection(flags.collection, *config);
  if (!collection.ok()) return collection.status();
  return OpenedCollection{std::move(*store), std::move(*collection)};
}

// How an import ended: the records committed, and the error that stopped it
// (OK when the whole file was imported).
struct ImportOutcome {
  std::uint64_t committed = 0;
  std::size_t failed_batch_size = 0;  // records of the batch that failed, if any
  Status status;
};

// Upserts `batch`, the records read so far, then reads and upserts the
// rest of `reader` in batches of `batch_size`; each batch is committed
// atomically. Reports progress on stderr.
ImportOutcome ImportRecords(RecordReader& reader, std::vector<Record> batch, Collection& collection,
                            std::size_t batch_size) {
  ImportOutcome outcome;
  Progress progress(fmt::format("import {}", collection.name()), reader.file_bytes());
  while (!batch.empty()) {
    Status upserted = collection.Upsert(batch);
    if (!upserted.ok()) {
      outcome.failed_batch_size = batch.size();
      outcome.status = upserted.WithContext(
          fmt::format("{}: records {} to {} of the file (0-based)", reader.path(),
                      outcome.committed, outcome.committed + batch.size() - 1));
      break;
    }
    outcome.committed += batch.size();
    progress.Update(reader.bytes_read(), outcome.committed);
    batch.clear();
    Result<std::size_t> read = reader.ReadBatch(batch_size, &batch);
    if (!read.ok()) {
      outcome.status = read.status();
      break;
    }
  }
  progress.Finish();
  return outcome;
}

// Reports a failed import: the error, then what was committed before it.
int ReportImportFailure(const ImportOutcome& outcome, const std::string& collection) {
  const int exit_status = ReportError(outcome.status);
  // Importing again only helps when the failure was not the file's content:
  // a rejected record is rejected again.
  const bool retry_helps = outcome.status.code() != StatusCode::kInvalidArgument;
  fmt::print(stderr, "{} committed into {} before the failure{}\n",
             Plural(outcome.committed, "record"), collection,
             retry_helps ? "; once the cause is fixed, importing the file again is safe (records "
                           "are upserted by key)"
                         : "; fix the record named above, then import the file again (records "
                           "are upserted by key)");
  if (outcome.status.code() == StatusCode::kIOError && outcome.failed_batch_size > 0) {
    fmt::print(stderr, "the failing batch of {} may or may not have been committed\n",
               Plural(outcome.failed_batch_size, "record"));
  }
  return exit_status;
}

int RunImport(const ImportFlags& flags, const GlobalOptions& global) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  Status has_dir = CheckDataDir(flags.data_dir);
  if (!has_dir.ok()) return ReportError(has_dir);

  // The file's header and first batch are read before the store is opened,
  // so that a file that is wrong from its start creates and writes nothing.
  Result<FileFormat> format = ResolveFileFormat(flags.format, flags.file);
  if (!format.ok()) return ReportError(format.status());
  RecordReadOptions read_options;
  read_options.dims = flags.create ? flags.config.dims : 0;
  read_options.key_offset = flags.offset;
  Result<RecordReader> reader = RecordReader::Open(flags.file, *format, read_options);
  if (!reader.ok()) return ReportError(reader.status());
  std::vector<Record> first_batch;
  Result<std::size_t> first_read = reader->ReadBatch(flags.batch_size, &first_batch);
  if (!first_read.ok()) return ReportError(first_read.status());

  Result<OpenedCollection> target = OpenTarget(flags, reader->dims(), global);
  if (!target.ok()) return ReportError(target.status());
  Collection& collection = *target->collection;
  const std::uint32_t dims = collection.config().dimensions;
  if (reader->dims() != 0 && reader->dims() != dims) {
    return ReportError(Status::InvalidArgument(
        fmt::format("{}: embeddings have {} dimensions, collection {} has {}", flags.file,
                    reader->dims(), flags.collection, dims)));
  }

  const ImportOutcome outcome =
      ImportRecords(*reader, std::move(first_batch), collection, flags.batch_size);
  if (!outcome.status.ok()) return ReportImportFailure(outcome, flags.collection);
  Result<std::uint64_t> total = collection.Count();
  if (!total.ok()) return ReportError(total.status());
  Status closed = CloseStore(*target->store);
  if (!closed.ok()) return ReportError(closed);

  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  fmt::print("imported {} into {} in {:.2f} s ({:.0f} records/s)\n",
             Plural(outcome.committed, "record"), flags.collection, seconds,
             seconds > 0 ? static_cast<double>(outcome.committed) / seconds : 0.0);
  fmt::print("{} committed; {} now holds {}\n", Plural(outcome.committed, "record"),
             flags.collection, Plural(*total, "record"));
  return kExitOk;
}

}  // namespace

Command AddImportCommand(CLI::App& app, const GlobalOptions& global) {
  CLI::App* command = AddSubcommand(
      app, "import", "Import vectors from a .fvecs, .fbin, .npy or .jsonl file into a collection.",
      "Formats (little-endian):\n"
      "  .fvecs           per row: int32 d, then d float32\n"
      "  .fbin            int32 n, int32 d, then n*d float32\n"
      "  .npy             NumPy, dtype '<f4', 2-D, C order\n"
      "  .jsonl, .ndjson  per line: {\"id\", \"key\", \"embedding\", \"text\", \"metadata\"}, all\n"
      "                   but \"embedding\" optional; \"metadata\" must be an object. A line\n"
      "                   with \"text\" and no \"embedding\" is embedded by the collection's\n"
      "                   model (create it with --embedder), a batch at a time\n"
      "Keys: row i of a matrix file gets key OFFSET + i (0-based, like ann-benchmarks ground\n"
      "truth). A JSONL line with an integer \"id\" (or a \"key\") gets it as key; a string\n"
      "\"id\" is kept as the record's id and gets the key every face gives it (FNV-1a-64 of the\n"
      "id, top bit cleared: `quiver get ID` and HTTP /v2 find it); other lines get OFFSET +\n"
      "their 0-based line index. `quiver export` writes this format back.\n"
      "The file's size and dimensions are checked before anything is written. The file is\n"
      "streamed in batches; each batch is committed atomically and durably, and records are\n"
      "upserted by key, so importing a file again after a failure is safe. Progress goes to\n"
      "standard error.");
  auto flags = std::make_shared<ImportFlags>();
  AddDataOption(command, &flags->data_dir);
  AddCollectionOption(command, &flags->collection)->required();
  command->add_option("FILE", flags->file, "The file to import")->type_name("PATH")->required();
  AddFormatOption(command, &flags->format);
  command->add_option("--offset", flags->offset, "Key of the first row (see Keys below)")
      ->type_name("KEY")
      ->check(KeyValidator())
      ->capture_default_str();
  command
      ->add_option("--batch-size", flags->batch_size,
                   "Records per transaction: larger batches import faster (one fsync each) and "
                   "hold more memory")
      ->check(CLI::Range(std::size_t{1}, kMaxBatchSize))
      ->capture_default_str();
  CLI::Option* create =
      command->add_flag("--create", flags->create,
                        "Create the collection if it does not exist (needs --metric, or "
                        "--embedder; --dims defaults to the file's). If it exists, its "
                        "configuration must match");
  for (CLI::Option* option : AddConfigOptions(command, &flags->config).all) option->needs(create);
  return {command, [flags, &global] { return RunImport(*flags, global); }};
}

}  // namespace quiver::cli
