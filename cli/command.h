// Copyright (c) Quiver authors.
//
// What the subcommands of `quiver` share: exit statuses, the options every
// command has, opening the store, printing errors and JSON. Each subcommand
// lives in its own file and is added to the CLI11 app by its Add*Command
// function, declared at the end of this header.

#ifndef QUIVER_CLI_COMMAND_H_
#define QUIVER_CLI_COMMAND_H_

#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "quiver/quiver.h"

namespace quiver::cli {

// Exit statuses of every command. Stable: scripts rely on them.
/// Success (and, for `verify`, every collection is clean).
inline constexpr int kExitOk = 0;
/// The command line or its input was rejected: a parse error, a missing data
/// directory, or a Status with code kInvalidArgument (bad name, dimension
/// mismatch, malformed file). Running it again unchanged fails again.
inline constexpr int kExitUsage = 1;
/// `verify` found problems (it shares the value with kExitUsage).
inline constexpr int kExitProblems = 1;
/// The operation failed for another reason: NotFound, AlreadyExists, Busy,
/// IOError, Corruption, FailedPrecondition, ...
inline constexpr int kExitError = 2;

/// The exit status for `code` (kExitOk for kOk). See the constants above.
int ExitStatusFor(StatusCode code);

/// Prints "error: <message>" (plus a hint for some codes) on standard error
/// and returns ExitStatusFor(status.code()). `status` must not be OK.
int ReportError(const Status& status);

/// Options of the `quiver` app itself, given before or after the subcommand.
struct GlobalOptions {
  /// The library's log lines at or above this level go to standard error.
  /// Command output, progress and summaries do not depend on it.
  LogLevel log_level = LogLevel::kWarn;
};

/// A subcommand: its CLI11 app (owned by the parent app), and the function that runs it after a
/// successful parse and returns the exit status.
struct Command {
  CLI::App* app;
  std::function<int()> run;
};

/// Adds subcommand `name` to `app`. `summary`, one sentence, is listed by
/// `quiver --help` and heads `quiver NAME --help`; `details` follow the
/// options there, before the exit statuses.
CLI::App* AddSubcommand(CLI::App& app, const std::string& name, const std::string& summary,
                        const std::string& details);

/// Parses a decimal key, 0 to 2^64 - 2 (kReservedKey cannot name a record).
/// InvalidArgument otherwise, e.g. for "-1".
Result<Key> ParseKey(std::string_view text);

/// A CLI11 check that every value of an option is a key (see ParseKey).
/// CLI11's own conversion would wrap "-1" around to 2^64 - 1.
CLI::Validator KeyValidator();

/// Adds `--data DIR` (default: $QUIVER_DATA) to `command`. The option is not
/// marked required, so that OpenStore can name both sources when neither is set.
void AddDataOption(CLI::App* command, std::string* data_dir);

/// OK when `data_dir` is set; otherwise InvalidArgument naming --data and QUIVER_DATA.
Status CheckDataDir(const std::string& data_dir);

/// Adds `--collection NAME`, checked at parse time by ValidateCollectionName.
CLI::Option* AddCollectionOption(CLI::App* command, std::string* name);

/// Adds `--format NAME` (fvecs, fbin, npy, jsonl; default: by extension) for
/// the input file of `command`, checked at parse time.
void AddFormatOption(CLI::App* command, std::string* format);

/// A CLI11 validator that accepts a value when `check` returns OK, and
/// otherwise rejects it with the Status message (which CLI11 prefixes with
/// the option's name).
CLI::Validator StatusValidator(std::function<Status(const std::string&)> check,
                               std::string description);

/// How a command opens the store.
enum class OpenMode {
  /// Without the write LOCK, so it works beside a running `quiver serve`;
  /// the directory must hold a store. Writes nothing.
  kReadOnly,
  /// As kReadOnly, and SQLite's quick_check runs over each records table
  /// before its collection is recovered (`verify`): a damaged one is
  /// quarantined (StoreOptions::check_records_at_open).
  kReadOnlyChecked,
  /// With the LOCK; the directory must hold a store.
  kReadWrite,
  /// With the LOCK; creates the directory and an empty store if missing.
  kCreateIfMissing,
};

/// Opens the store in `data_dir`: CheckDataDir's error, or Store::Open's.
Result<std::unique_ptr<Store>> OpenStore(const std::string& data_dir, OpenMode mode,
                                         const GlobalOptions& global);

/// An open store and one of its collections.
struct OpenedCollection {
  std::unique_ptr<Store> store;
  std::shared_ptr<Collection> collection;
};

/// OpenStore, then Store::GetCollection(name) (NotFound naming it).
Result<OpenedCollection> OpenExistingCollection(const std::string& data_dir,
                                                const std::string& name, OpenMode mode,
                                                const GlobalOptions& global);

/// Closes a store that a command wrote to, so that its checkpoint error (if
/// any) becomes the command's error rather than a log line. The writes the
/// command acknowledged are durable either way.
Status CloseStore(Store& store);

/// The configuration flags of `create` and `import --create`.
struct ConfigFlags {
  std::uint32_t dims = 0;
  std::string metric;
  std::string scalar = std::string(ScalarKindName(CollectionConfig{}.scalar));
  std::uint32_t connectivity = CollectionConfig{}.connectivity;
  std::uint32_t expansion_add = CollectionConfig{}.expansion_add;
  std::uint32_t expansion_search = CollectionConfig{}.expansion_search;
  std::string model_id;
  std::string model_version;
  /// --embedder: a name for embed::ResolveEmbedder; sets dims, metric and model tag.
  std::string embedder;

  /// The configuration these flags describe. InvalidArgument naming the flag
  /// when --metric or --dims is missing (without --embedder), when they
  /// contradict --embedder, or CollectionConfig::Validate's error; NotFound for
  /// an unknown --embedder.
  Result<CollectionConfig> ToConfig() const;
};

/// The options AddConfigOptions added, for the caller to mark (as required,
/// or as needing another flag).
struct ConfigOptions {
  CLI::Option* dims;
  CLI::Option* metric;
  std::vector<CLI::Option*> all;  // dims and metric included
};

/// Adds --dims, --metric, --scalar, --connectivity, --expansion-add,
/// --expansion-search, --model-id and --model-version to `command`.
ConfigOptions AddConfigOptions(CLI::App* command, ConfigFlags* flags);

/// JSON output keeps the order in which fields are added (and the order of
/// the keys in a record's metadata).
using Json = nlohmann::ordered_json;

/// "1 record", "2 records": `count` and `noun`, plural unless count is 1.
std::string Plural(std::uint64_t count, std::string_view noun);

/// Writes `value` as one line of compact JSON on standard output. Invalid
/// UTF-8 in strings is replaced by U+FFFD instead of failing.
void PrintJsonLine(const Json& value);

/// A record's serialized metadata as a JSON object ("" = {}).
Json MetadataToJson(const std::string& metadata);

/// Prints rows under a header on standard output, each column padded to its
/// widest cell. Every row has as many cells as the header.
void PrintTable(const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows);

// The subcommands, one file each. Each adds itself to `app` and returns its
// Command; `global` must outlive the returned function.
Command AddCreateCommand(CLI::App& app, const GlobalOptions& global);
Command AddImportCommand(CLI::App& app, const GlobalOptions& global);
Command AddSearchCommand(CLI::App& app, const GlobalOptions& global);
Command AddGetCommand(CLI::App& app, const GlobalOptions& global);
Command AddDeleteCommand(CLI::App& app, const GlobalOptions& global);
Command AddCountCommand(CLI::App& app, const GlobalOptions& global);
Command AddScanCommand(CLI::App& app, const GlobalOptions& global);
Command AddExportCommand(CLI::App& app, const GlobalOptions& global);
Command AddIndexFieldCommand(CLI::App& app, const GlobalOptions& global);
Command AddDropCommand(CLI::App& app, const GlobalOptions& global);
Command AddListCommand(CLI::App& app, const GlobalOptions& global);
Command AddStatsCommand(CLI::App& app, const GlobalOptions& global);
Command AddVerifyCommand(CLI::App& app, const GlobalOptions& global);
Command AddRebuildCommand(CLI::App& app, const GlobalOptions& global);
Command AddBackupCommand(CLI::App& app, const GlobalOptions& global);
Command AddRestoreCommand(CLI::App& app, const GlobalOptions& global);
#ifdef QUIVER_HAVE_SERVER
Command AddServeCommand(CLI::App& app, const GlobalOptions& global);
#endif

}  // namespace quiver::cli

#endif  // QUIVER_CLI_COMMAND_H_
