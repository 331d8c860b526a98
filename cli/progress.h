// Copyright (c) Quiver authors.
//
// Progress of a long command (an import) on standard error.

#ifndef QUIVER_CLI_PROGRESS_H_
#define QUIVER_CLI_PROGRESS_H_

#include <chrono>
#include <cstdint>
#include <string>

namespace quiver::cli {

/// Reports how far an operation got, measured in abstract units of work (the
/// bytes of an input file) and described by the number of records. When
/// standard error is a terminal it redraws one bar line, at most 10 times a
/// second; otherwise (a log file, a pipe) it prints a line each time another
/// ~10% is done, so that logs stay short. Writes only to standard error.
///
/// Thread safety: one thread at a time.
class Progress {
 public:
  /// `label` starts every line (e.g. "import docs"); `total_units` > 0.
  Progress(std::string label, std::uint64_t total_units);

  /// `done_units` (at most total_units) of the work is done, covering
  /// `records` records.
  void Update(std::uint64_t done_units, std::uint64_t records);

  /// Ends the bar line on a terminal, so that later output starts on a fresh
  /// line. Call once, after the last Update (also when the operation failed).
  void Finish();

 private:
  using Clock = std::chrono::steady_clock;

  void DrawBar(double fraction, std::uint64_t records, double records_per_second);
  void PrintLine(double fraction, std::uint64_t records, double records_per_second);

  std::string label_;
  std::uint64_t total_units_;
  bool is_terminal_;
  Clock::time_point start_;
  Clock::time_point last_draw_;
  bool drew_bar_ = false;
  int next_percent_line_ = 10;  // the next multiple of 10% to print a line at
};

}  // namespace quiver::cli

#endif  // QUIVER_CLI_PROGRESS_H_
