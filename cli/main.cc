// Copyright (c) Quiver authors.
//
// The `quiver` command: parses the command line with CLI11 and runs the one
// subcommand given. See command.h for the exit statuses.

#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "cli/command.h"

namespace quiver::cli {
namespace {

constexpr char kDescription[] =
    "quiver: a local-first vector store.\n\n"
    "A store is one directory (--data DIR, or $QUIVER_DATA) holding named collections of\n"
    "records: a key (an unsigned 64-bit integer), an optional string id, text, JSON metadata\n"
    "and an embedding. Searches return the k nearest records by distance, and for every\n"
    "metric LOWER IS CLOSER. Run `quiver COMMAND --help` for the options of a command.";

constexpr char kFooter[] =
    "Exit status: 0 success; 1 the command line or its input was rejected, or verify found\n"
    "problems; 2 any other error (not found, store busy, I/O error, corruption). Errors are\n"
    "printed on standard error as \"error: <message>\".";

std::string VersionText() {
  return fmt::format("quiver {} (USearch {}; SIMD: {})", Version(), UsearchVersion(),
                     SimdCapabilities());
}

LogLevel LogLevelFromName(const std::string& name) {
  if (name == "debug") return LogLevel::kDebug;
  if (name == "info") return LogLevel::kInfo;
  if (name == "error") return LogLevel::kError;
  return LogLevel::kWarn;
}

// "expected a command (create, import, ...)", for a command line without one.
std::string MissingCommandMessage(CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::App* command : app.get_subcommands([](CLI::App*) { return true; })) {
    names.push_back(command->get_name());
  }
  const std::vector<std::string> rest = app.remaining();
  const std::string given = rest.empty() ? "" : fmt::format("unknown command '{}': ", rest[0]);
  return fmt::format("{}expected a command ({})", given, fmt::join(names, ", "));
}

// Prints help or the version (CLI11 reports both as "errors" with exit code
// 0), or a parse error with a pointer to the help of the subcommand involved.
int ReportParseError(CLI::App& app, const CLI::ParseError& error) {
  if (error.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(error);
  const std::vector<CLI::App*> parsed = app.get_subcommands();
  std::string command = "quiver";
  for (const CLI::App* sub : parsed) command += " " + sub->get_name();
  const bool no_command = parsed.empty() && dynamic_cast<const CLI::RequiredError*>(&error);
  fmt::print(stderr, "error: {}\nrun `{} --help` for usage\n",
             no_command ? MissingCommandMessage(app) : std::string(error.what()), command);
  return kExitUsage;
}

// Turns a failure to write standard output (a full disk, a closed pipe
// without SIGPIPE) into an error, so that truncated output never exits 0.
int FlushStandardOutput(int exit_status) {
  if (std::fflush(stdout) == 0 && !std::ferror(stdout)) return exit_status;
  fmt::print(stderr, "error: writing to standard output failed: {}\n", std::strerror(errno));
  return kExitError;
}

int Run(int argc, char** argv) {
  CLI::App app(kDescription, "quiver");
  app.set_version_flag("--version", VersionText, "Print the versions of Quiver and USearch");
  app.footer(kFooter);
  app.require_subcommand(1);
  // Global options may also follow the subcommand: `quiver import --log-level info ...`.
  app.fallthrough();

  GlobalOptions global;
  std::string log_level = "warn";
  app.add_option("--log-level", log_level,
                 "Print the library's log lines at this level and above on standard error")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}))
      ->capture_default_str();

  std::vector<Command> commands = {
      AddCreateCommand(app, global),     AddImportCommand(app, global),
      AddSearchCommand(app, global),     AddGetCommand(app, global),
      AddDeleteCommand(app, global),     AddCountCommand(app, global),
      AddScanCommand(app, global),       AddExportCommand(app, global),
      AddIndexFieldCommand(app, global), AddDropCommand(app, global),
      AddListCommand(app, global),       AddStatsCommand(app, global),
      AddVerifyCommand(app, global),     AddRebuildCommand(app, global),
      AddBackupCommand(app, global),     AddRestoreCommand(app, global),
#ifdef QUIVER_HAVE_SERVER
      AddServeCommand(app, global),
#endif
  };

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return ReportParseError(app, error);
  }
  global.log_level = LogLevelFromName(log_level);
  for (const Command& command : commands) {
    if (command.app->parsed()) return FlushStandardOutput(command.run());
  }
  return kExitUsage;  // unreachable: CLI11 requires one subcommand
}

}  // namespace
}  // namespace quiver::cli

int main(int argc, char** argv) {
  try {
    return quiver::cli::Run(argc, argv);
  } catch (const std::exception& error) {
    // Quiver reports errors as values; only a dependency (or memory
    // exhaustion) can throw this far.
    fmt::print(stderr, "error: internal: {}\n", error.what());
    return quiver::cli::kExitError;
  }
}
