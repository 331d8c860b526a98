// Copyright (c) Quiver authors.
//
// Helpers declared in include/quiver/record.h.

#include "quiver/record.h"

namespace quiver {

Key KeyForStringId(std::string_view id) {
  constexpr std::uint64_t kOffsetBasis = 0xcbf29ce484222325ULL;
  constexpr std::uint64_t kPrime = 0x100000001b3ULL;
  std::uint64_t hash = kOffsetBasis;
  for (const char c : id) {
    hash ^= static_cast<unsigned char>(c);
    hash *= kPrime;
  }
  // Below 2^63: string keys sort after the keys >= 2^63 of the int64 column
  // like any other key, fit every client's signed integers, and never equal
  // kReservedKey.
  return hash & ((std::uint64_t{1} << 63) - 1);
}

}  // namespace quiver
