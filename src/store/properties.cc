// Copyright (c) Quiver authors.
//
// Store properties (Store::SetProperties / GetProperties): the validation that
// the public contract promises; the SQL is in storage/database.cc.

#include "store/properties.h"

#include <cstdint>
#include <string>
#include <unordered_set>

#include "util/status_macros.h"

namespace quiver {
namespace {

// The number of bytes of the UTF-8 sequence starting at text[at], or 0 if it
// is not a valid one (overlong forms, surrogates and code points above
// U+10FFFF are invalid).
std::size_t Utf8SequenceLength(std::string_view text, std::size_t at) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(at);
  if (lead < 0x80) return 1;
  std::size_t length = 0;
  std::uint32_t code = 0;
  if ((lead & 0xE0) == 0xC0) {
    length = 2;
    code = lead & 0x1F;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3;
    code = lead & 0x0F;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4;
    code = lead & 0x07;
  } else {
    return 0;
  }
  if (at + length > text.size()) return 0;
  for (std::size_t i = 1; i < length; ++i) {
    if ((byte(at + i) & 0xC0) != 0x80) return 0;
    code = (code << 6) | (byte(at + i) & 0x3F);
  }
  static constexpr std::uint32_t kMinimum[] = {0, 0, 0x80, 0x800, 0x10000};
  if (code < kMinimum[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return 0;
  return length;
}

}  // namespace

Status ValidatePropertyKey(std::string_view key, std::string_view field) {
  if (key.empty() || key.size() > kMaxPropertyKeyBytes) {
    return Status::InvalidArgument(std::string(field) + ": " + std::to_string(key.size()) +
                                   " bytes; expected 1 to " + std::to_string(kMaxPropertyKeyBytes));
  }
  return ValidatePropertyPrefix(key, field);
}

Status ValidatePropertyPrefix(std::string_view prefix, std::string_view field) {
  if (prefix.size() > kMaxPropertyKeyBytes) {
    return Status::InvalidArgument(std::string(field) + ": " + std::to_string(prefix.size()) +
                                   " bytes; expected at most " +
                                   std::to_string(kMaxPropertyKeyBytes));
  }
  for (std::size_t at = 0; at < prefix.size();) {
    const unsigned char c = static_cast<unsigned char>(prefix[at]);
    if (c < 0x20 || c == 0x7F) {
      return Status::InvalidArgument(std::string(field) + ": control character at byte " +
                                     std::to_string(at) +
                                     "; expected UTF-8 text without control characters");
    }
    const std::size_t length = Utf8SequenceLength(prefix, at);
    if (length == 0) {
      return Status::InvalidArgument(std::string(field) + ": invalid UTF-8 at byte " +
                                     std::to_string(at) +
                                     "; expected UTF-8 text without control characters");
    }
    at += length;
  }
  return Status::Ok();
}

Status ValidatePropertyChanges(const std::vector<PropertyChange>& changes) {
  if (changes.size() > kMaxBatchSize) {
    return Status::InvalidArgument("changes: " + std::to_string(changes.size()) +
                                   " changes; expected at most " + std::to_string(kMaxBatchSize));
  }
  std::unordered_set<std::string_view> seen;
  for (std::size_t i = 0; i < changes.size(); ++i) {
    const std::string field = "changes[" + std::to_string(i) + "]";
    QUIVER_RETURN_IF_ERROR(ValidatePropertyKey(changes[i].key, field + ".key"));
    if (!seen.insert(changes[i].key).second) {
      return Status::InvalidArgument(field + ".key: '" + changes[i].key +
                                     "' is changed twice; expected each key at most once");
    }
    if (changes[i].value && changes[i].value->size() > kMaxPropertyValueBytes) {
      return Status::InvalidArgument(field + ".value: " + std::to_string(changes[i].value->size()) +
                                     " bytes; expected at most " +
                                     std::to_string(kMaxPropertyValueBytes));
    }
  }
  return Status::Ok();
}

}  // namespace quiver
