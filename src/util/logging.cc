// Copyright (c) Quiver authors.

#include "util/logging.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

namespace quiver {
namespace {

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "DEBUG";
    case LogLevel::kInfo:
      return "INFO";
    case LogLevel::kWarn:
      return "WARN";
    case LogLevel::kError:
      return "ERROR";
  }
  return "?";
}

std::string UtcTimestamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &utc);
  return fmt::format("{}.{:03}Z", text, millis);
}

}  // namespace

Logger StderrLogger(LogLevel min_level) {
  return [min_level](LogLevel level, std::string_view message) {
    if (level < min_level) return;
    // One fwrite per line: stdio locks the stream, so lines never interleave.
    const std::string line = fmt::format("{} {} {}\n", UtcTimestamp(), LevelName(level), message);
    std::fwrite(line.data(), 1, line.size(), stderr);
  };
}

void Log::Write(LogLevel level, std::string_view message) const { logger_(level, message); }

}  // namespace quiver
