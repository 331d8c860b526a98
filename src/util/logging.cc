// Copyright (c) Quiver authors.

#include "util/logging.h"

#include <chrono>
#include <cstdio>
#include <ctime>

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

}  // namespace

void Log::Write(LogLevel level, std::string_view message) const {
  if (logger_) {
    logger_(level, message);
    return;
  }
  if (level < LogLevel::kInfo) return;
  auto now = std::chrono::system_clock::now();
  std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &utc);
  // One fprintf per line keeps lines from concurrent threads whole.
  std::fprintf(stderr, "%s.%03dZ %-5s %.*s\n", stamp, static_cast<int>(millis), LevelName(level),
               static_cast<int>(message.size()), message.data());
}

}  // namespace quiver
