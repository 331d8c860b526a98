// Copyright (c) Quiver authors.
//
// The validation of store properties (Store::SetProperties, GetProperties):
// what include/quiver/store.h promises about keys, values and a call's
// changes. The SQL is storage/database.cc's.

#ifndef QUIVER_STORE_PROPERTIES_H_
#define QUIVER_STORE_PROPERTIES_H_

#include <string_view>
#include <vector>

#include "quiver/status.h"
#include "quiver/store.h"

namespace quiver {

/// InvalidArgument naming `field` unless `key` is 1..kMaxPropertyKeyBytes
/// bytes of UTF-8 without control characters.
Status ValidatePropertyKey(std::string_view key, std::string_view field);

/// As ValidatePropertyKey, but `prefix` may be empty.
Status ValidatePropertyPrefix(std::string_view prefix, std::string_view field);

/// InvalidArgument naming the first bad change ("changes[i].key: ...",
/// "changes[i].value: ...") or the count; each key at most once.
Status ValidatePropertyChanges(const std::vector<PropertyChange>& changes);

}  // namespace quiver

#endif  // QUIVER_STORE_PROPERTIES_H_
