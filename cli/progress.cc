// Copyright (c) Quiver authors.

#include "cli/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <utility>

namespace quiver::cli {

namespace {

constexpr int kBarWidth = 30;
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);

}  // namespace

Progress::Progress(std::string label, std::uint64_t total_units)
    : label_(std::move(label)),
      total_units_(std::max<std::uint64_t>(total_units, 1)),
      is_terminal_(isatty(STDERR_FILENO) == 1),
      start_(Clock::now()),
      last_draw_(start_ - kRedrawInterval) {}

void Progress::Update(std::uint64_t done_units, std::uint64_t records) {
  const Clock::time_point now = Clock::now();
  const double fraction =
      static_cast<double>(std::min(done_units, total_units_)) / static_cast<double>(total_units_);
  const double seconds = std::chrono::duration<double>(now - start_).count();
  const double records_per_second = seconds > 0 ? static_cast<double>(records) / seconds : 0;
  if (is_terminal_) {
    if (now - last_draw_ < kRedrawInterval && fraction < 1) return;
    last_draw_ = now;
    DrawBar(fraction, records, records_per_second);
  } else if (fraction * 100 >= next_percent_line_) {
    next_percent_line_ = static_cast<int>(fraction * 10) * 10 + 10;
    PrintLine(fraction, records, records_per_second);
  }
}

void Progress::Finish() {
  if (drew_bar_) fmt::print(stderr, "\n");
  drew_bar_ = false;
}

void Progress::DrawBar(double fraction, std::uint64_t records, double records_per_second) {
  const int filled = static_cast<int>(fraction * kBarWidth);
  fmt::print(stderr, "\r{} [{:#<{}}{:-<{}}] {:3.0f}%  {} records  {:.0f} records/s\x1b[K", label_,
             "", filled, "", kBarWidth - filled, fraction * 100, records, records_per_second);
  std::fflush(stderr);
  drew_bar_ = true;
}

void Progress::PrintLine(double fraction, std::uint64_t records, double records_per_second) {
  fmt::print(stderr, "{}: {:.0f}% ({} records, {:.0f} records/s)\n", label_, fraction * 100,
             records, records_per_second);
}

}  // namespace quiver::cli
