// Copyright (c) Quiver authors.
//
// Record ids of the native API. A client names a record either by an integer,
// which is its key, or by a string, which is stored as Record::id and mapped
// to a key by a fixed, documented hash (so Chroma-style string ids work
// without a lookup table):
//
//   key = FNV-1a-64(UTF-8 bytes of the id) with the top bit cleared
//
// FNV-1a-64: h = 0xcbf29ce484222325; for each byte b: h = (h ^ b) * 0x100000001b3
// (mod 2^64). Any client can compute the key of a string id itself.
//
// Two different string ids with the same 63-bit hash cannot overwrite each
// other: the store rejects an upsert whose key holds another string id.

#ifndef QUIVER_SERVER_RECORD_ID_H_
#define QUIVER_SERVER_RECORD_ID_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "quiver/record.h"
#include "quiver/status.h"
#include "server/json_body.h"
#include "server/json_out.h"

namespace quiver::server {

/// Largest integer id: keys are kept below 2^63 so that they fit SQLite's
/// signed INTEGER and never collide with kReservedKey.
inline constexpr std::uint64_t kMaxIntegerId = (std::uint64_t{1} << 63) - 1;

/// Longest string id accepted, in bytes.
inline constexpr std::size_t kMaxStringIdBytes = 1024;

/// The key of a string id: the library's one rule (quiver::KeyForStringId,
/// see the file comment), so the CLI, the library and HTTP agree.
using ::quiver::KeyForStringId;

/// A record id as a request gave it.
struct RecordId {
  Key key = 0;
  /// The string id; empty when the client gave an integer.
  std::string id;

  /// The id as the API returns it: the string if there is one, else the key.
  JsonOut ToJson() const;
};

/// Reads an id: a non-negative integer up to kMaxIntegerId, or a non-empty
/// string of at most kMaxStringIdBytes bytes. InvalidArgument naming the value's path otherwise.
Result<RecordId> ParseRecordId(const JsonValue& value);

/// The id of a stored record as the API returns it (string id, else key).
JsonOut RecordIdJson(Key key, const std::string& id);

}  // namespace quiver::server

#endif  // QUIVER_SERVER_RECORD_ID_H_
