// Copyright (c) Quiver authors.
//
// JSON output. Responses are built as JsonOut values and serialized once.
//
// JsonOut is nlohmann::json with two changes: objects keep their insertion
// order (responses read in the order the docs show), and floating-point
// numbers are float32, so an embedding component or a distance prints as the
// shortest text that round-trips to the same float ("0.1", not
// "0.10000000149011612"), as memista (serde) prints them.

#ifndef QUIVER_SERVER_JSON_OUT_H_
#define QUIVER_SERVER_JSON_OUT_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace quiver::server {

using JsonOut = nlohmann::basic_json<nlohmann::ordered_map, std::vector, std::string, bool,
                                     std::int64_t, std::uint64_t, float>;

/// Compact serialization. Invalid UTF-8 in a string (which the request parser
/// never lets in) is replaced by U+FFFD instead of throwing.
inline std::string DumpJson(const JsonOut& value) {
  return value.dump(-1, ' ', false, JsonOut::error_handler_t::replace);
}

}  // namespace quiver::server

#endif  // QUIVER_SERVER_JSON_OUT_H_
