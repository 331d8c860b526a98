// Copyright (c) Quiver authors.
//
// The commands that address records by key, string id or filter: get,
// delete, count, scan, export.

#include <fmt/format.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/command.h"

namespace quiver::cli {
namespace {

/// A record as named on the command line: a key, or a string id.
struct RecordName {
  Key key = 0;
  std::string id;  // empty: named by key
  std::string text;
};

/// Decimal keys are keys; anything else (or everything, with --ids) is a
/// string id, found under KeyForStringId like every face finds it.
Result<std::vector<RecordName>> ResolveNames(const std::vector<std::string>& args, bool all_ids) {
  std::vector<RecordName> names;
  for (const std::string& arg : args) {
    RecordName name;
    name.text = arg;
    Result<Key> key = all_ids ? Result<Key>(Status::InvalidArgument("")) : ParseKey(arg);
    if (key.ok()) {
      name.key = *key;
    } else if (arg.empty()) {
      return Status::InvalidArgument("ID: an empty string names no record");
    } else {
      name.id = arg;
      name.key = KeyForStringId(arg);
    }
    names.push_back(std::move(name));
  }
  return names;
}

struct RecordFlags {
  std::string data_dir;
  std::string collection;
  std::vector<std::string> names;  // keys or string ids
  bool ids = false;                // every name is a string id
  std::string where;               // delete, count, scan, export
  bool with_embedding = false;     // get, scan
  std::size_t limit = 100;         // scan
  std::size_t offset = 0;          // scan
  std::string cursor;              // scan
  std::string output;              // export
};

void AddNameOptions(CLI::App* command, RecordFlags* flags, std::string_view help) {
  command->add_option("KEY_OR_ID", flags->names, std::string(help))->type_name("KEY|ID");
  command->add_flag("--ids", flags->ids,
                    "Read every KEY_OR_ID as a string id, even one that is all digits");
}

CLI::Option* AddWhereOption(CLI::App* command, std::string* where) {
  return command->add_option(
      "--where", *where,
      "Filter: a JSON object over metadata, \"id\" and \"key\", e.g. '{\"color\": \"red\"}', "
      "'{\"price\": {\"$lt\": 10}}' (operators $eq $ne $gt $gte $lt $lte $in $nin $exists $and "
      "$or $not; see docs/filters.md)");
}

Json RecordToJson(const Record& record, bool with_embedding) {
  Json line = {
      {"key", record.key},
      {"id", record.id.empty() ? Json(nullptr) : Json(record.id)},
      {"text", record.text},
      {"metadata", MetadataToJson(record.metadata)},
  };
  if (with_embedding) line["embedding"] = record.embedding;
  return line;
}

int RunGet(const RecordFlags& flags, const GlobalOptions& global) {
  if (flags.names.empty())
    return ReportError(Status::InvalidArgument("give at least one KEY or ID"));
  Result<std::vector<RecordName>> names = ResolveNames(flags.names, flags.ids);
  if (!names.ok()) return ReportError(names.status());
  Result<OpenedCollection> opened =
      OpenExistingCollection(flags.data_dir, flags.collection, OpenMode::kReadOnly, global);
  if (!opened.ok()) return ReportError(opened.status());
  std::vector<Key> keys;
  for (const RecordName& name : *names) keys.push_back(name.key);
  Result<std::vector<std::optional<Record>>> records = opened->collection->Get(keys);
  if (!records.ok()) return ReportError(records.status());
  std::vector<std::string> missing;
  for (std::size_t i = 0; i < names->size(); ++i) {
    const std::optional<Record>& record = (*records)[i];
    // A string id finds only the record that has it (not another id's
    // record under a colliding key, nor a record named by key alone).
    if (record.has_value() && record->id == (*names)[i].id) {
      PrintJsonLine(RecordToJson(*record, flags.with_embedding));
    } else {
      missing.push_back((*names)[i].text);
    }
  }
  if (missing.empty()) return kExitOk;
  return ReportError(Status::NotFound(fmt::format("{} of {} not in collection {}: {}",
                                                  missing.size(), Plural(names->size(), "record"),
                                                  flags.collection, fmt::join(missing, " "))));
}

int RunDelete(const RecordFlags& flags, const GlobalOptions& global) {
  if (flags.names.empty() == flags.where.empty()) {
    return ReportError(Status::InvalidArgument("give either KEY_OR_ID arguments or --where"));
  }
  Result<std::vector<RecordName>> names = ResolveNames(flags.names, flags.ids);
  if (!names.ok()) return ReportError(names.status());
  Result<OpenedCollection> opened =
      OpenExistingCollection(flags.data_dir, flags.collection, OpenMode::kReadWrite, global);
  if (!opened.ok()) return ReportError(opened.status());
  Collection& collection = *opened->collection;
  Result<std::size_t> deleted = std::size_t{0};
  if (!flags.where.empty()) {
    deleted = collection.DeleteWhere(flags.where);
  } else {
    // A string id deletes only the record that has it.
    std::vector<Key> keys;
    for (const RecordName& name : *names) keys.push_back(name.key);
    Result<std::vector<std::optional<Record>>> current = collection.Get(keys);
    if (!current.ok()) return ReportError(current.status());
    std::vector<Key> to_delete;
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const std::optional<Record>& record = (*current)[i];
      if (record.has_value() && record->id == (*names)[i].id) to_delete.push_back(keys[i]);
    }
    deleted =
        to_delete.empty() ? Result<std::size_t>(std::size_t{0}) : collection.Delete(to_delete);
  }
  if (!deleted.ok()) return ReportError(deleted.status());
  Status closed = CloseStore(*opened->store);
  if (!closed.ok()) return ReportError(closed);
  if (flags.where.empty()) {
    fmt::print("deleted {} of {} from {}\n", Plural(*deleted, "record"),
               Plural(names->size(), "key"), flags.collection);
  } else {
    fmt::print("deleted {} matching the filter from {}\n", Plural(*deleted, "record"),
               flags.collection);
  }
  return kExitOk;
}

int RunCount(const RecordFlags& flags, const GlobalOptions& global) {
  Result<OpenedCollection> opened =
      OpenExistingCollection(flags.data_dir, flags.collection, OpenMode::kReadOnly, global);
  if (!opened.ok()) return ReportError(opened.status());
  Result<std::uint64_t> count = opened->collection->Count(flags.where);
  if (!count.ok()) return ReportError(count.status());
  fmt::print("{}\n", *count);
  return kExitOk;
}

/// Writes every page of a scan as JSON lines to `out`; returns the count.
Result<std::uint64_t> WriteScan(Collection& collection, ScanOptions options, bool all_pages,
                                bool with_embedding, std::FILE* out, std::string* next_cursor) {
  std::uint64_t written = 0;
  while (true) {
    Result<ScanPage> page = collection.Scan(options);
    if (!page.ok()) return page.status();
    for (const Record& record : page->records) {
      const std::string line =
          RecordToJson(record, with_embedding).dump(-1, ' ', false, Json::error_handler_t::replace);
      if (std::fprintf(out, "%s\n", line.c_str()) < 0) {
        return Status::IOError("writing the output failed");
      }
      ++written;
    }
    *next_cursor = page->next_cursor;
    if (!all_pages || page->next_cursor.empty()) return written;
    options.cursor = page->next_cursor;
    options.offset = 0;
  }
}

int RunScan(const RecordFlags& flags, const GlobalOptions& global) {
  Result<OpenedCollection> opened =
      OpenExistingCollection(flags.data_dir, flags.collection, OpenMode::kReadOnly, global);
  if (!opened.ok()) return ReportError(opened.status());
  ScanOptions options;
  options.filter = flags.where;
  options.limit = flags.limit;
  options.offset = flags.offset;
  options.cursor = flags.cursor;
  options.include_embedding = flags.with_embedding;
  std::string next;
  Result<std::uint64_t> written = WriteScan(*opened->collection, options, /*all_pages=*/false,
                                            flags.with_embedding, stdout, &next);
  if (!written.ok()) return ReportError(written.status());
  std::fflush(stdout);
  if (next.empty()) {
    fmt::print(stderr, "{}; no more pages\n", Plural(*written, "record"));
  } else {
    fmt::print(stderr, "{}; next page: --cursor {}\n", Plural(*written, "record"), next);
  }
  return kExitOk;
}

int RunExport(const RecordFlags& flags, const GlobalOptions& global) {
  Result<OpenedCollection> opened =
      OpenExistingCollection(flags.data_dir, flags.collection, OpenMode::kReadOnly, global);
  if (!opened.ok()) return ReportError(opened.status());
  std::FILE* out = stdout;
  if (!flags.output.empty()) {
    out = std::fopen(flags.output.c_str(), "wx");  // never overwrite a file
    if (out == nullptr) {
      return ReportError(Status::IOError(
          fmt::format("--output {}: cannot create it (it must not exist yet)", flags.output)));
    }
  }
  ScanOptions options;
  options.filter = flags.where;
  options.limit = 1000;
  options.include_embedding = true;
  std::string next;
  Result<std::uint64_t> written =
      WriteScan(*opened->collection, options, /*all_pages=*/true, true, out, &next);
  const bool closed = out == stdout ? std::fflush(out) == 0 : std::fclose(out) == 0;
  if (!written.ok()) return ReportError(written.status());
  if (!closed) return ReportError(Status::IOError("writing the output failed"));
  fmt::print(stderr, "exported {} from {}\n", Plural(*written, "record"), flags.collection);
  return kExitOk;
}

/// The options every filter command has.
std::shared_ptr<RecordFlags> AddCommonOptions(CLI::App* command) {
  auto flags = std::make_shared<RecordFlags>();
  AddDataOption(command, &flags->data_dir);
  AddCollectionOption(command, &flags->collection)->required();
  return flags;
}

}  // namespace

Command AddGetCommand(CLI::App& app, const GlobalOptions& global) {
  CLI::App* command = AddSubcommand(
      app, "get", "Print records by key or string id, one JSON object per line.",
      "Each line: {\"key\", \"id\" (null if none), \"text\", \"metadata\"}, plus \"embedding\"\n"
      "with --with-embedding. A decimal argument is a key; any other is a string id (the key\n"
      "of a string id is its FNV-1a-64 hash, as in HTTP /v2). Records that do not exist are\n"
      "listed in an error at the end (exit status 2). Opens the store read-only.");
  auto flags = AddCommonOptions(command);
  AddNameOptions(command, flags.get(), "Keys (unsigned 64-bit integers) or string ids");
  command->add_flag("--with-embedding", flags->with_embedding,
                    "Also print the float32 embedding as a JSON array");
  return {command, [flags, &global] { return RunGet(*flags, global); }};
}

Command AddDeleteCommand(CLI::App& app, const GlobalOptions& global) {
  CLI::App* command = AddSubcommand(
      app, "delete", "Delete records by key, string id or filter, atomically.",
      "All the records are deleted or none, durably. Records that do not exist are ignored;\n"
      "the output says how many records were deleted. With --where, every record that matches\n"
      "the filter is deleted in one transaction ('{}' matches every record).");
  auto flags = AddCommonOptions(command);
  AddNameOptions(command, flags.get(), "Keys or string ids of the records to delete");
  AddWhereOption(command, &flags->where);
  return {command, [flags, &global] { return RunDelete(*flags, global); }};
}

Command AddCountCommand(CLI::App& app, const GlobalOptions& global) {
  CLI::App* command = AddSubcommand(
      app, "count", "Print how many records match a filter (all of them without --where).",
      "Counts in SQLite: an index lookup when the filter's fields are indexed (quiver\n"
      "index-field), else one pass over the records. Opens the store read-only.");
  auto flags = AddCommonOptions(command);
  AddWhereOption(command, &flags->where);
  return {command, [flags, &global] { return RunCount(*flags, global); }};
}

Command AddScanCommand(CLI::App& app, const GlobalOptions& global) {
  CLI::App* command = AddSubcommand(
      app, "scan", "List records that match a filter, a page at a time, in key order.",
      "Prints one JSON object per record (as `get`), then on standard error the --cursor of\n"
      "the next page. A cursor is stable under concurrent writes: the next page starts after\n"
      "the last key printed. Keys are ordered as SQLite's signed 64-bit integers (keys from\n"
      "2^63 on come first). Opens the store read-only.");
  auto flags = AddCommonOptions(command);
  AddWhereOption(command, &flags->where);
  command->add_option("--limit", flags->limit, "Records per page")
      ->check(CLI::Range(std::size_t{1}, kMaxBatchSize))
      ->capture_default_str();
  command->add_option("--offset", flags->offset, "Matching records to skip first");
  command->add_option("--cursor", flags->cursor, "Where the previous page ended (see above)");
  command->add_flag("--with-embedding", flags->with_embedding,
                    "Also print the float32 embedding as a JSON array");
  return {command, [flags, &global] { return RunScan(*flags, global); }};
}

Command AddExportCommand(CLI::App& app, const GlobalOptions& global) {
  CLI::App* command = AddSubcommand(
      app, "export",
      "Write every record (or those matching --where) as JSONL, embeddings included.",
      "The format `import` reads: {\"key\", \"id\", \"text\", \"metadata\", \"embedding\"} per\n"
      "line, in key order, so export then import into an empty collection of the same\n"
      "configuration gives back the same records under the same keys. Writes to standard\n"
      "output, or to --output FILE (which must not exist). Opens the store read-only.");
  auto flags = AddCommonOptions(command);
  AddWhereOption(command, &flags->where);
  command->add_option("--output,-o", flags->output, "Write here instead of standard output")
      ->type_name("PATH");
  return {command, [flags, &global] { return RunExport(*flags, global); }};
}

}  // namespace quiver::cli
