// Copyright (c) Quiver authors.

#include "cli/command.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <utility>

#include "cli/formats.h"
#include "quiver/embedders.h"

namespace quiver::cli {

int ExitStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return kExitOk;
    case StatusCode::kInvalidArgument:
      return kExitUsage;
    case StatusCode::kNotFound:
    case StatusCode::kAlreadyExists:
    case StatusCode::kCorruption:
    case StatusCode::kIOError:
    case StatusCode::kBusy:
    case StatusCode::kNotSupported:
    case StatusCode::kFailedPrecondition:
    case StatusCode::kInternal:
    case StatusCode::kUnavailable:
      return kExitError;
  }
  return kExitError;
}

int ReportError(const Status& status) {
  fmt::print(stderr, "error: {}\n", status.message());
  if (status.code() == StatusCode::kBusy) {
    fmt::print(stderr,
               "hint: another process (such as `quiver serve`) has the store open for writing; "
               "search, get, list, stats and verify still work beside it\n");
  }
  return ExitStatusFor(status.code());
}

CLI::App* AddSubcommand(CLI::App& app, const std::string& name, const std::string& summary,
                        const std::string& details) {
  CLI::App* command = app.add_subcommand(name, summary);
  command->footer(details + "\n\n" + app.get_footer());
  return command;
}

Result<Key> ParseKey(std::string_view text) {
  Key key = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), key);
  if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
    return Status::InvalidArgument(
        fmt::format("'{}' is not a key: expected an integer from 0 to {}", text, kReservedKey - 1));
  }
  if (key == kReservedKey) {
    return Status::InvalidArgument(fmt::format("{} is reserved: keys go up to {}", key, key - 1));
  }
  return key;
}

CLI::Validator KeyValidator() {
  return StatusValidator([](const std::string& text) { return ParseKey(text).status(); }, "");
}

void AddDataOption(CLI::App* command, std::string* data_dir) {
  command->add_option("--data", *data_dir, "Data directory of the store (default: $QUIVER_DATA)")
      ->envname("QUIVER_DATA")
      ->type_name("DIR");
}

Status CheckDataDir(const std::string& data_dir) {
  if (!data_dir.empty()) return Status::Ok();
  return Status::InvalidArgument("no data directory: pass --data DIR or set QUIVER_DATA");
}

CLI::Option* AddCollectionOption(CLI::App* command, std::string* name) {
  return command
      ->add_option("--collection", *name, "Collection name: 1 to 64 characters of [A-Za-z0-9_-]")
      ->type_name("NAME")
      ->check(StatusValidator(
          [](const std::string& value) { return ValidateCollectionName(value); }, ""));
}

void AddFormatOption(CLI::App* command, std::string* format) {
  command
      ->add_option("--format", *format,
                   "Format of the file: fvecs, fbin, npy or jsonl (default: by its extension: "
                   ".fvecs, .fbin, .npy, .jsonl or .ndjson)")
      ->type_name("FORMAT")
      ->check(StatusValidator(
          [](const std::string& name) { return ParseFileFormat(name).status(); }, ""));
}

CLI::Validator StatusValidator(std::function<Status(const std::string&)> check,
                               std::string description) {
  return CLI::Validator(
      [check = std::move(check)](std::string& value) -> std::string {
        Status status = check(value);
        return status.ok() ? std::string() : status.message();
      },
      std::move(description));
}

Result<std::unique_ptr<Store>> OpenStore(const std::string& data_dir, OpenMode mode,
                                         const GlobalOptions& global) {
  Status has_dir = CheckDataDir(data_dir);
  if (!has_dir.ok()) return has_dir;
  StoreOptions options;
  options.create_if_missing = mode == OpenMode::kCreateIfMissing;
  options.read_only = mode == OpenMode::kReadOnly || mode == OpenMode::kReadOnlyChecked;
  options.check_records_at_open = mode == OpenMode::kReadOnlyChecked;
  // A command recovers only the collections it touches.
  options.open_collections_lazily = true;
  // Collections bound to an embedding model find it by name when they first
  // embed text (create --embedder); nothing is loaded before.
  options.embedder_resolver = embed::MakeResolver();
  options.logger = [level = global.log_level](LogLevel line_level, std::string_view message) {
    static constexpr std::string_view kNames[] = {"debug", "info", "warn", "error"};
    if (line_level < level) return;
    fmt::print(stderr, "quiver {}: {}\n", kNames[static_cast<int>(line_level)], message);
  };
  return Store::Open(data_dir, options);
}

Result<OpenedCollection> OpenExistingCollection(const std::string& data_dir,
                                                const std::string& name, OpenMode mode,
                                                const GlobalOptions& global) {
  Result<std::unique_ptr<Store>> store = OpenStore(data_dir, mode, global);
  if (!store.ok()) return store.status();
  Result<std::shared_ptr<Collection>> collection = (*store)->GetCollection(name);
  if (!collection.ok()) return collection.status();
  return OpenedCollection{std::move(*store), std::move(*collection)};
}

Status CloseStore(Store& store) {
  Status closed = store.Close();
  if (closed.ok()) return closed;
  return closed.WithContext("closing the store (the acknowledged writes are durable)");
}

Result<CollectionConfig> ConfigFlags::ToConfig() const {
  std::string metric = this->metric;
  std::uint32_t dims = this->dims;
  std::string model_id = this->model_id;
  std::string model_version = this->model_version;
  if (!embedder.empty()) {
    // The model fixes dimensions, metric and model tag; flags may repeat them only.
    Result<std::shared_ptr<Embedder>> model = embed::ResolveEmbedder(embedder);
    if (!model.ok()) return model.status().WithContext("--embedder");
    const EmbedderInfo& info = (*model)->info();
    if (dims != 0 && dims != info.dimensions) {
      return Status::InvalidArgument(
          fmt::format("--dims {} differs from the {} dimensions of --embedder {}", dims,
                      info.dimensions, embedder));
    }
    if (!model_id.empty() || !model_version.empty()) {
      return Status::InvalidArgument(
          "--model-id/--model-version: not with --embedder, which "
          "sets the model tag to " +
          info.id + "@" + info.version);
    }
    dims = info.dimensions;
    if (metric.empty()) metric = std::string(MetricName(info.metric));
    model_id = info.id;
    model_version = info.version;
  }
  if (metric.empty()) {
    return Status::InvalidArgument("--metric is required (l2sq, cos or ip), or --embedder");
  }
  if (dims == 0) return Status::InvalidArgument("--dims is required, or --embedder");
  Result<Metric> metric_kind = ParseMetric(metric);
  if (!metric_kind.ok()) return metric_kind.status().WithContext("--metric");
  Result<ScalarKind> scalar_kind = ParseScalarKind(scalar);
  if (!scalar_kind.ok()) return scalar_kind.status().WithContext("--scalar");
  CollectionConfig config;
  config.dimensions = dims;
  config.metric = *metric_kind;
  config.scalar = *scalar_kind;
  config.connectivity = connectivity;
  config.expansion_add = expansion_add;
  config.expansion_search = expansion_search;
  config.model_id = model_id;
  config.model_version = model_version;
  Status valid = config.Validate();
  if (!valid.ok()) return valid;
  return config;
}

ConfigOptions AddConfigOptions(CLI::App* command, ConfigFlags* flags) {
  ConfigOptions options;
  options.dims =
      command->add_option("--dims", flags->dims, "Dimensions: float32 components per embedding");
  options.metric =
      command
          ->add_option("--metric", flags->metric,
                       "Distance, reported so that LOWER IS CLOSER: l2sq = squared Euclidean, "
                       "cos = 1 - cosine similarity, ip = 1 - dot product (for unit vectors)")
          ->check(StatusValidator(
              [](const std::string& name) { return ParseMetric(name).status(); }, "l2sq|cos|ip"));
  options.all = {
      options.dims,
      options.metric,
      command
          ->add_option("--scalar", flags->scalar,
                       "Element type of the index: f32 (4 bytes per dimension), f16 or bf16 (2), "
                       "i8 (1; for cos/ip). SQLite always keeps the float32 originals")
          ->check(StatusValidator(
              [](const std::string& name) { return ParseScalarKind(name).status(); },
              "f32|f16|bf16|i8"))
          ->capture_default_str(),
      command
          ->add_option("--connectivity", flags->connectivity,
                       "HNSW M: graph edges per node; higher = better recall, more memory "
                       "(about 16*M bytes per vector), slower inserts")
          ->capture_default_str(),
      command
          ->add_option("--expansion-add", flags->expansion_add,
                       "HNSW ef_construction: candidates considered per insert; higher = better "
                       "graph, slower import")
          ->capture_default_str(),
      command
          ->add_option("--expansion-search", flags->expansion_search,
                       "HNSW ef: default candidates considered per search (a search may override "
                       "it); higher = better recall, slower search")
          ->capture_default_str(),
      command->add_option(
          "--model-id", flags->model_id,
          "Embedding model tag; opening the collection with another tag is refused"),
      command->add_option("--model-version", flags->model_version, "Version of the --model-id"),
      command->add_option("--embedder", flags->embedder,
                          "Embedding model that turns the collection's texts and text queries "
                          "into embeddings: a local model (use-lite), onnx:DIR, or "
                          "openai:MODEL (server in $QUIVER_EMBEDDING_URL). Sets --dims, "
                          "--metric (unless given) and the model tag"),
  };
  return options;
}

std::string Plural(std::uint64_t count, std::string_view noun) {
  return fmt::format("{} {}{}", count, noun, count == 1 ? "" : "s");
}

void PrintJsonLine(const Json& value) {
  const std::string line = value.dump(-1, ' ', false, Json::error_handler_t::replace);
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
}

Json MetadataToJson(const std::string& metadata) {
  if (metadata.empty()) return Json::object();
  Json object = Json::parse(metadata, nullptr, /*allow_exceptions=*/false);
  // Upsert admits only JSON objects; show anything else verbatim rather than fail.
  return object.is_discarded() ? Json(metadata) : object;
}

void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> widths(header.size());
  for (std::size_t column = 0; column < header.size(); ++column) {
    widths[column] = header[column].size();
    for (const auto& row : rows) widths[column] = std::max(widths[column], row[column].size());
  }
  auto print_row = [&widths](const std::vector<std::string>& cells) {
    std::string line;
    for (std::size_t column = 0; column < cells.size(); ++column) {
      const bool last = column + 1 == cells.size();
      line += last ? cells[column] : fmt::format("{:<{}}  ", cells[column], widths[column]);
    }
    fmt::print("{}\n", line);
  };
  print_row(header);
  for (const auto& row : rows) print_row(row);
}

}  // namespace quiver::cli
