// Copyright (c) Quiver authors.
//
// The commands that address records by key: get, delete.

#include <fmt/format.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cli/command.h"

namespace quiver::cli {
namespace {

struct KeyFlags {
  std::string data_dir;
  std::string collection;
  std::vector<Key> keys;
  bool with_embedding = false;  // get only
};

// Adds the options that get and delete share.
void AddKeyOptions(CLI::App* command, KeyFlags* flags, std::string_view keys_help) {
  AddDataOption(command, &flags->data_dir);
  AddCollectionOption(command, &flags->collection)->required();
  command->add_option("KEY", flags->keys, std::string(keys_help))
      ->type_name("UINT64")
      ->check(KeyValidator())
      ->required();
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

int RunGet(const KeyFlags& flags, const GlobalOptions& global) {
  Result<OpenedCollection> opened =
      OpenExistingCollection(flags.data_dir, flags.collection, OpenMode::kReadOnly, global);
  if (!opened.ok()) return ReportError(opened.status());
  Result<std::vector<std::optional<Record>>> records = opened->collection->Get(flags.keys);
  if (!records.ok()) return ReportError(records.status());
  std::vector<Key> missing;
  for (std::size_t i = 0; i < flags.keys.size(); ++i) {
    const std::optional<Record>& record = (*records)[i];
    if (record.has_value()) {
      PrintJsonLine(RecordToJson(*record, flags.with_embedding));
    } else {
      missing.push_back(flags.keys[i]);
    }
  }
  if (missing.empty()) return kExitOk;
  return ReportError(Status::NotFound(fmt::format("{} of {} not in collection {}: {}",
                                                  missing.size(), Plural(flags.keys.size(), "key"),
                                                  flags.collection, fmt::join(missing, " "))));
}

int RunDelete(const KeyFlags& flags, const GlobalOptions& global) {
  Result<OpenedCollection> opened =
      OpenExistingCollection(flags.data_dir, flags.collection, OpenMode::kReadWrite, global);
  if (!opened.ok()) return ReportError(opened.status());
  Result<std::size_t> deleted = opened->collection->Delete(flags.keys);
  if (!deleted.ok()) return ReportError(deleted.status());
  Status closed = CloseStore(*opened->store);
  if (!closed.ok()) return ReportError(closed);
  fmt::print("deleted {} of {} from {}\n", Plural(*deleted, "record"),
             Plural(flags.keys.size(), "key"), flags.collection);
  return kExitOk;
}

}  // namespace

Command AddGetCommand(CLI::App& app, const GlobalOptions& global) {
  CLI::App* command = AddSubcommand(
      app, "get", "Print records by key, one JSON object per line.",
      "Each line: {\"key\", \"id\" (null if none), \"text\", \"metadata\"}, plus \"embedding\"\n"
      "with --with-embedding. Keys that do not exist are listed in an error at the end (exit\n"
      "status 2). Opens the store read-only.");
  auto flags = std::make_shared<KeyFlags>();
  AddKeyOptions(command, flags.get(), "Keys of the records (unsigned 64-bit integers)");
  command->add_flag("--with-embedding", flags->with_embedding,
                    "Also print the float32 embedding as a JSON array");
  return {command, [flags, &global] { return RunGet(*flags, global); }};
}

Command AddDeleteCommand(CLI::App& app, const GlobalOptions& global) {
  CLI::App* command = AddSubcommand(
      app, "delete", "Delete records by key, atomically.",
      "All the records are deleted or none, durably. Keys that do not exist are ignored; the\n"
      "output says how many records were deleted.");
  auto flags = std::make_shared<KeyFlags>();
  AddKeyOptions(command, flags.get(), "Keys of the records to delete");
  return {command, [flags, &global] { return RunDelete(*flags, global); }};
}

}  // namespace quiver::cli
