// Copyright (c) Quiver authors.
//
// Compiles a parsed filter (filter/filter.h) to a parameterized SQL boolean
// expression over one records table (key, id, text, metadata, embedding).
//
// Safety: every operand is a bound parameter. Field paths are emitted as SQL
// string literals of the form '$."seg"."seg"', built only from segments that
// filter::Parse validated (no quote, backslash, bracket, '$', '*' or control
// byte), and single quotes are doubled regardless; they must be literals, not
// parameters, so that SQLite can match them against the expression indexes of
// indexed fields (CREATE INDEX ... ON records(json_extract(metadata, '$."f"'))).
//
// Three-valued logic: a positive leaf may evaluate to SQL NULL when its field
// is missing; at the top of a WHERE clause NULL acts as false, and AND / OR
// keep that meaning. Only negation would turn NULL into "unknown" instead of
// true, so $not, $ne and $nin compile to NOT COALESCE(expr, 0).
//
// Only the storage module includes this header.

#ifndef QUIVER_STORAGE_FILTER_SQL_H_
#define QUIVER_STORAGE_FILTER_SQL_H_

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "filter/filter.h"

namespace quiver::storage {

/// A bound parameter: integer, real or text.
using SqlParam = std::variant<std::int64_t, double, std::string>;

/// A boolean SQL expression and its parameters, in order of the '?' marks.
struct SqlFilter {
  std::string expr = "1";
  std::vector<SqlParam> params;
};

/// Compiles `node`. Pure; never fails (Parse checked everything).
SqlFilter CompileFilter(const filter::Node& node);

/// The SQL literal of a metadata path, e.g. '$."a"."b"' (quotes included).
std::string JsonPathLiteral(const std::vector<std::string>& segments);

}  // namespace quiver::storage

#endif  // QUIVER_STORAGE_FILTER_SQL_H_
