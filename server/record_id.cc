// Copyright (c) Quiver authors.

#include "server/record_id.h"

#include <fmt/format.h>

namespace quiver::server {

JsonOut RecordId::ToJson() const { return RecordIdJson(key, id); }

JsonOut RecordIdJson(Key key, const std::string& id) {
  return id.empty() ? JsonOut(key) : JsonOut(id);
}

Result<RecordId> ParseRecordId(const JsonValue& value) {
  if (value.element().is_string()) {
    Result<std::string_view> text = value.AsString();
    if (!text.ok()) return text.status();
    if (text->empty() || text->size() > kMaxStringIdBytes) {
      return Status::InvalidArgument(fmt::format("{}: a string id must have 1 to {} bytes, got {}",
                                                 value.Name(), kMaxStringIdBytes, text->size()));
    }
    return RecordId{KeyForStringId(*text), std::string(*text)};
  }
  if (!value.element().is_number()) {
    return Status::InvalidArgument(
        fmt::format("{}: an id must be a non-negative integer or a string", value.Name()));
  }
  Result<std::uint64_t> key = value.AsUint(0, kMaxIntegerId);
  if (!key.ok()) return key.status();
  return RecordId{*key, ""};
}

}  // namespace quiver::server
