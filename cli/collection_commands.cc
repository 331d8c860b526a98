// Copyright (c) Quiver authors.
//
// The commands that manage whole collections: create, drop, list, stats, verify.

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <unistd.h>
#include <chrono>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli/command.h"
#include "quiver/json_views.h"

namespace quiver::cli {
namespace {

// --- create

struct CreateFlags {
  std::string data_dir;
  std::string collection;
  ConfigFlags config;
  std::vector<std::string> index_fields;
};

int RunCreate(const CreateFlags& flags, const GlobalOptions& global) {
  Result<CollectionConfig> config = flags.config.ToConfig();
  if (!config.ok()) return ReportError(config.status());
  Result<std::unique_ptr<Store>> store =
      OpenStore(flags.data_dir, OpenMode::kCreateIfMissing, global);
  if (!store.ok()) return ReportError(store.status());
  Result<std::shared_ptr<Collection>> created =
      (*store)->CreateCollection(flags.collection, *config);
  if (!created.ok()) return ReportError(created.status());
  for (const std::string& field : flags.index_fields) {
    Status indexed = (*created)->CreateFieldIndex(field);
    if (!indexed.ok()) return ReportError(indexed.WithContext("--index-field"));
  }
  Status closed = CloseStore(**store);
  if (!closed.ok()) return ReportError(closed);
  fmt::print("created collection {} ({}{}{})\n", flags.collection, config->ToString(),
             flags.index_fields.empty() ? "" : " indexed=", fmt::join(flags.index_fields, ","));
  return kExitOk;
}

// --- index-field

struct IndexFieldFlags {
  std::string data_dir;
  std::string collection;
  std::vector<std::string> fields;
  bool drop = false;
};

int RunIndexField(const IndexFieldFlags& flags, const GlobalOptions& global) {
  Result<OpenedCollection> opened = OpenExistingCollection(
      flags.data_dir, flags.collection,
      flags.fields.empty() ? OpenMode::kReadOnly : OpenMode::kReadWrite, global);
  if (!opened.ok()) return ReportError(opened.status());
  Collection& collection = *opened->collection;
  for (const std::string& field : flags.fields) {
    const auto start = std::chrono::steady_clock::now();
    Status s = flags.drop ? collection.DropFieldIndex(field) : collection.CreateFieldIndex(field);
    if (!s.ok()) return ReportError(s);
    fmt::print("{} index of field {} in {:.2f} s\n", flags.drop ? "dropped" : "created", field,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  Result<std::vector<std::string>> fields = collection.FieldIndexes();
  if (!fields.ok()) return ReportError(fields.status());
  fmt::print("indexed fields of {}: {}\n", flags.collection,
             fields->empty() ? std::string("none") : fmt::format("{}", fmt::join(*fields, ", ")));
  if (!flags.fields.empty()) {
    Status closed = CloseStore(*opened->store);
    if (!closed.ok()) return ReportError(closed);
  }
  return kExitOk;
}

// --- drop

struct DropFlags {
  std::string data_dir;
  std::string collection;
  bool yes = false;
};

// Asks `question` on the terminal; true when the answer is "y" or "yes".
// False without asking when standard input is not a terminal.
bool ConfirmOnTerminal(const std::string& question) {
  if (isatty(STDIN_FILENO) != 1) return false;
  fmt::print(stderr, "{} [y/N] ", question);
  std::fflush(stderr);
  std::string answer;
  std::getline(std::cin, answer);
  return answer == "y" || answer == "Y" || answer == "yes";
}

int RunDrop(const DropFlags& flags, const GlobalOptions& global) {
  Result<OpenedCollection> opened =
      OpenExistingCollection(flags.data_dir, flags.collection, OpenMode::kReadWrite, global);
  if (!opened.ok()) return ReportError(opened.status());
  Result<std::uint64_t> records = opened->collection->Count();
  if (!records.ok()) return ReportError(records.status());
  const std::string what =
      fmt::format("collection {} and its {}", flags.collection, Plural(*records, "record"));
  if (!flags.yes && !ConfirmOnTerminal(fmt::format("Drop {}? This cannot be undone.", what))) {
    fmt::print(stderr, "not dropped: pass --yes to drop {} without a question\n", what);
    return kExitUsage;
  }
  Status dropped = opened->store->DropCollection(flags.collection);
  if (!dropped.ok()) return ReportError(dropped);
  Status closed = CloseStore(*opened->store);
  if (!closed.ok()) return ReportError(closed);
  fmt::print("dropped {}\n", what);
  return kExitOk;
}

// --- list

struct ListFlags {
  std::string data_dir;
  bool json = false;
};

int RunList(const ListFlags& flags, const GlobalOptions& global) {
  Result<std::unique_ptr<Store>> store = OpenStore(flags.data_dir, OpenMode::kReadOnly, global);
  if (!store.ok()) return ReportError(store.status());
  Result<std::vector<CollectionInfo>> infos = (*store)->ListCollections();
  if (!infos.ok()) return ReportError(infos.status());

  std::vector<std::vector<std::string>> rows;
  std::vector<const CollectionInfo*> quarantined;
  for (const CollectionInfo& info : *infos) {
    if (!info.damage.empty()) {
      quarantined.push_back(&info);
      if (flags.json) {
        PrintJsonLine(Json{{"name", info.name}, {"id", info.id}, {"damage", info.damage}});
      } else {
        rows.push_back({info.name, "quarantined", "-", "-", "-", "-", "-", "-", "-"});
      }
      continue;
    }
    Result<std::shared_ptr<Collection>> collection = (*store)->GetCollection(info.name);
    if (!collection.ok()) return ReportError(collection.status());
    Result<std::uint64_t> records = (*collection)->Count();
    if (!records.ok()) return ReportError(records.status());
    const CollectionConfig& config = info.config;
    if (flags.json) {
      Json line = {{"name", info.name}, {"id", info.id}, {"records", *records}};
      line.update(ConfigToJson<Json>(config));
      PrintJsonLine(line);
      continue;
    }
    const std::string model =
        config.model_id.empty() ? "-" : fmt::format("{}@{}", config.model_id, config.model_version);
    rows.push_back({info.name, std::to_string(*records), std::to_string(config.dimensions),
                    std::string(MetricName(config.metric)),
                    std::string(ScalarKindName(config.scalar)), std::to_string(config.connectivity),
                    std::to_string(config.expansion_add), std::to_string(config.expansion_search),
                    model});
  }
  if (flags.json) return kExitOk;
  if (rows.empty()) {
    fmt::print("no collections in {}\n", flags.data_dir);
    return kExitOk;
  }
  PrintTable({"NAME", "RECORDS", "DIMS", "METRIC", "SCALAR", "M", "EF_ADD", "EF", "MODEL"}, rows);
  for (const CollectionInfo* info : quarantined) {
    fmt::print("{} is quarantined: {}\n", info->name, info->damage);
  }
  return kExitOk;
}

// --- stats

struct StatsFlags {
  std::string data_dir;
  std::string collection;  // empty = every collection
  bool json = false;
};

// The names of the collections a command covers: `name`, or all when empty.
Result<std::vector<std::string>> SelectCollections(Store& store, const std::string& name) {
  if (!name.empty()) return std::vector<std::string>{name};
  Result<std::vector<CollectionInfo>> infos = store.ListCollections();
  if (!infos.ok()) return infos.status();
  std::vector<std::string> names;
  for (const CollectionInfo& info : *infos) names.push_back(info.name);
  return names;
}

std::string FormatBytes(std::uint64_t bytes) {
  constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", value, kUnits[unit]);
}

void PrintStatsText(const CollectionStats& stats) {
  const std::string checkpoint =
      stats.checkpoint_generation == 0
          ? std::string("none yet")
          : fmt::format("generation {}, covers changes up to seq {}, {} on disk",
                        stats.checkpoint_generation, stats.checkpoint_applied_seq,
                        FormatBytes(stats.checkpoint_bytes));
  fmt::print("collection {} (id {})\n", stats.name, stats.id);
  fmt::print("  config       {}\n", stats.config.ToString());
  fmt::print("  records      {}\n", stats.records);
  fmt::print("  index        {} vectors, {} in memory{}\n", stats.index_vectors,
             FormatBytes(stats.index_memory_bytes),
             stats.index_mapped ? " (checkpoint mapped read-only)" : "");
  fmt::print("  applied seq  {}\n", stats.applied_seq);
  fmt::print("  change log   {} entries not yet in a checkpoint\n", stats.change_log_length);
  fmt::print("  checkpoint   {}\n", checkpoint);
  fmt::print("  simd kernel  {}\n", stats.simd_kernel);
  fmt::print("  indexed      {}\n", stats.indexed_fields.empty()
                                        ? std::string("no metadata fields")
                                        : fmt::format("{}", fmt::join(stats.indexed_fields, ", ")));
  fmt::print(
      "  unreachable  {} vectors no search can reach{}\n", stats.unreachable_vectors,
      stats.unreachable_vectors == 0 ? "" : " (a checkpoint or `quiver rebuild` repairs them)");
  if (!stats.fatal_error.empty()) {
    fmt::print("  FATAL ERROR  {} (read-only until reopened)\n", stats.fatal_error);
  }
}

int RunStats(const StatsFlags& flags, const GlobalOptions& global) {
  Result<std::unique_ptr<Store>> store = OpenStore(flags.data_dir, OpenMode::kReadOnly, global);
  if (!store.ok()) return ReportError(store.status());
  Result<std::vector<std::string>> names = SelectCollections(**store, flags.collection);
  if (!names.ok()) return ReportError(names.status());
  if (!flags.json) {
    fmt::print("store {} (quiver {}; SIMD: {})\n", (*store)->dir(), Version(), SimdCapabilities());
  }
  for (const std::string& name : *names) {
    Result<std::shared_ptr<Collection>> collection = (*store)->GetCollection(name);
    if (!collection.ok()) return ReportError(collection.status());
    Result<CollectionStats> stats = (*collection)->Stats();
    if (!stats.ok()) return ReportError(stats.status());
    if (flags.json) {
      PrintJsonLine(StatsToJson<Json>(*stats));
    } else {
      PrintStatsText(*stats);
    }
  }
  return kExitOk;
}

// --- verify

struct VerifyFlags {
  std::string data_dir;
  std::string collection;  // empty = every collection
};

// Verifies one collection and prints its problems and a summary line.
// Returns whether it is clean, or the error that kept it from being checked.
Result<bool> VerifyCollection(Store& store, const std::string& name) {
  Result<std::vector<CollectionInfo>> infos = store.ListCollections();
  if (!infos.ok()) return infos.status();
  for (const CollectionInfo& info : *infos) {
    if (info.name == name && !info.damage.empty()) {
      fmt::print("{}: quarantined: {}\n{}: 1 problem (not checked further)\n", name, info.damage,
                 name);
      return false;
    }
  }
  Result<std::shared_ptr<Collection>> collection = store.GetCollection(name);
  if (!collection.ok()) return collection.status();
  Result<VerifyReport> report = (*collection)->Verify();
  if (!report.ok()) return report.status().WithContext(fmt::format("verify {}", name));
  for (const std::string& problem : report->problems) fmt::print("{}: {}\n", name, problem);
  fmt::print("{}: {} ({} and {} checked, {} unreachable in the graph)\n", name,
             report->clean() ? std::string("clean") : Plural(report->problems.size(), "problem"),
             Plural(report->records_checked, "record"),
             Plural(report->index_vectors_checked, "index vector"), report->unreachable);
  return report->clean();
}

int RunVerify(const VerifyFlags& flags, const GlobalOptions& global) {
  // Every failure to check is kExitError, never kExitProblems (= kExitUsage):
  // a script must be able to tell "damaged" from "could not look".
  auto fail = [](const Status& status) {
    ReportError(status);
    return kExitError;
  };
  Result<std::unique_ptr<Store>> store =
      OpenStore(flags.data_dir, OpenMode::kReadOnlyChecked, global);
  if (!store.ok()) return fail(store.status());
  Result<std::vector<std::string>> names = SelectCollections(**store, flags.collection);
  if (!names.ok()) return fail(names.status());
  bool all_clean = true;
  for (const std::string& name : *names) {
    Result<bool> clean = VerifyCollection(**store, name);
    if (!clean.ok()) return fail(clean.status());
    all_clean = all_clean && *clean;
  }
  if (names->empty()) fmt::print("no collections in {}\n", flags.data_dir);
  return all_clean ? kExitOk : kExitProblems;
}

}  // namespace

Command AddCreateCommand(CLI::App& app, const GlobalOptions& global) {
  CLI::App* command = AddSubcommand(
      app, "create", "Create a collection with a fixed configuration.",
      "The configuration is stored with the collection: opening it later with other dimensions,\n"
      "metric, scalar kind or model tag is refused. For every metric, LOWER IS CLOSER.\n"
      "Creates the data directory and the store when missing.\n"
      "Example: quiver create --data ./store --collection vectors --dims 768 --metric cos\n"
      "A collection of texts: quiver create --data ./store --collection docs --embedder use-lite\n"
      "(its records and queries may then be text; see quiver import and search --text).");
  auto flags = std::make_shared<CreateFlags>();
  AddDataOption(command, &flags->data_dir);
  AddCollectionOption(command, &flags->collection)->required();
  AddConfigOptions(command, &flags->config);  // --dims and --metric, or --embedder
  command
      ->add_option("--index-field", flags->index_fields,
                   "Index this metadata field for filters (repeatable; see index-field)")
      ->type_name("FIELD");
  return {command, [flags, &global] { return RunCreate(*flags, global); }};
}

Command AddIndexFieldCommand(CLI::App& app, const GlobalOptions& global) {
  CLI::App* command = AddSubcommand(
      app, "index-field", "Index metadata fields for filters, drop such indexes, or list them.",
      "An indexed field (a dotted path into the metadata, as filters name it) has an SQLite\n"
      "expression index, so that a selective filter on it is an index lookup instead of a\n"
      "pass over every record: faster counts, scans, deletes and filtered-search planning.\n"
      "Answers never change. Creating one reads every record once; writes wait meanwhile.\n"
      "Without FIELD, lists the indexed fields.");
  auto flags = std::make_shared<IndexFieldFlags>();
  AddDataOption(command, &flags->data_dir);
  AddCollectionOption(command, &flags->collection)->required();
  command->add_option("FIELD", flags->fields, "Metadata fields, e.g. color or dims.width");
  command->add_flag("--drop", flags->drop, "Drop the indexes of the FIELDs instead");
  return {command, [flags, &global] { return RunIndexField(*flags, global); }};
}

Command AddDropCommand(CLI::App& app, const GlobalOptions& global) {
  CLI::App* command = AddSubcommand(
      app, "drop", "Delete a collection with its records and index files.",
      "Cannot be undone. Asks for confirmation on a terminal; scripts must pass --yes.");
  auto flags = std::make_shared<DropFlags>();
  AddDataOption(command, &flags->data_dir);
  AddCollectionOption(command, &flags->collection)->required();
  command->add_flag("--yes,-y", flags->yes,
                    "Do not ask for confirmation (required when standard input is not a "
                    "terminal)");
  return {command, [flags, &global] { return RunDrop(*flags, global); }};
}

Command AddListCommand(CLI::App& app, const GlobalOptions& global) {
  CLI::App* command = AddSubcommand(
      app, "list", "List the collections with their record counts and configurations.",
      "Opens the store read-only, so it works beside a running `quiver serve`.");
  auto flags = std::make_shared<ListFlags>();
  AddDataOption(command, &flags->data_dir);
  command->add_flag("--json", flags->json,
                    "One JSON object per collection and line: name, id, records and the "
                    "configuration fields");
  return {command, [flags, &global] { return RunList(*flags, global); }};
}

Command AddStatsCommand(CLI::App& app, const GlobalOptions& global) {
  CLI::App* command = AddSubcommand(
      app, "stats", "Show the counters of collections.",
      "Per collection: records in SQLite, vectors and memory of the index, the highest change\n"
      "applied to it, change-log entries not yet in a checkpoint, the current checkpoint, and\n"
      "the SIMD kernel the distance function runs on. Opens the store read-only.");
  auto flags = std::make_shared<StatsFlags>();
  AddDataOption(command, &flags->data_dir);
  AddCollectionOption(command, &flags->collection)
      ->description("Only this collection (default: all)");
  command->add_flag("--json", flags->json,
                    "One JSON object per collection and line (sizes in bytes, durations in ms)");
  return {command, [flags, &global] { return RunStats(*flags, global); }};
}

Command AddVerifyCommand(CLI::App& app, const GlobalOptions& global) {
  CLI::App* command = AddSubcommand(
      app, "verify", "Check that the records in SQLite and the index agree.",
      "Checks that the live keys in SQLite equal the keys in the index, that every embedding\n"
      "has the collection's dimensions and that the checkpoint file matches its checksum.\n"
      "Prints every problem, then a summary line per collection. Opens the store read-only.\n"
      "Exit status: 0 every collection is clean, 1 problems were found, 2 the check itself\n"
      "failed (for example, the store could not be opened).");
  auto flags = std::make_shared<VerifyFlags>();
  AddDataOption(command, &flags->data_dir);
  AddCollectionOption(command, &flags->collection)
      ->description("Only this collection (default: all)");
  return {command, [flags, &global] { return RunVerify(*flags, global); }};
}

}  // namespace quiver::cli
