// Copyright (c) Quiver authors.
//
// The store's log: a thin wrapper over StoreOptions::logger with fmt-style
// formatting. Internal.

#ifndef QUIVER_UTIL_LOGGING_H_
#define QUIVER_UTIL_LOGGING_H_

#include <fmt/format.h>

#include <chrono>
#include <string>
#include <utility>

#include "quiver/options.h"

namespace quiver {

/// Forwards formatted lines to a Logger, or to StderrLogger(kInfo) when the
/// Logger is empty. Thread-safe if the Logger is.
class Log {
 public:
  explicit Log(Logger logger = {})
      : logger_(logger ? std::move(logger) : StderrLogger(LogLevel::kInfo)) {}

  void Write(LogLevel level, std::string_view message) const;

  template <typename... Args>
  void Info(fmt::format_string<Args...> format, Args&&... args) const {
    Write(LogLevel::kInfo, fmt::format(format, std::forward<Args>(args)...));
  }
  template <typename... Args>
  void Warn(fmt::format_string<Args...> format, Args&&... args) const {
    Write(LogLevel::kWarn, fmt::format(format, std::forward<Args>(args)...));
  }
  template <typename... Args>
  void Error(fmt::format_string<Args...> format, Args&&... args) const {
    Write(LogLevel::kError, fmt::format(format, std::forward<Args>(args)...));
  }
  template <typename... Args>
  void Debug(fmt::format_string<Args...> format, Args&&... args) const {
    Write(LogLevel::kDebug, fmt::format(format, std::forward<Args>(args)...));
  }

 private:
  Logger logger_;
};

/// Milliseconds elapsed since `start` on the steady clock (for log lines).
inline double MillisSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

}  // namespace quiver

#endif  // QUIVER_UTIL_LOGGING_H_
