// Copyright (c) Quiver authors.
//
// The server's default logger and a formatting helper.

#ifndef QUIVER_SERVER_LOG_H_
#define QUIVER_SERVER_LOG_H_

#include <string_view>
#include <utility>

#include <fmt/format.h>

#include "quiver/options.h"

namespace quiver::server {

/// Formats and logs one line; a no-op when `logger` is empty.
template <typename... Args>
void Log(const Logger& logger, LogLevel level, fmt::format_string<Args...> format, Args&&... args) {
  if (logger) logger(level, fmt::format(format, std::forward<Args>(args)...));
}

}  // namespace quiver::server

#endif  // QUIVER_SERVER_LOG_H_
