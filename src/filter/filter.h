// Copyright (c) Quiver authors.
//
// The filter language: a `where` object over a record's metadata, its string
// id and its key, in the shape Chroma and MongoDB users know. Every face (the
// library, the CLI's --where, HTTP /v2) passes the JSON text to Parse, which
// checks it completely and returns a typed tree; the storage module compiles
// that tree to parameterized SQL (storage/filter_sql.h). docs/filters.md is
// the user's reference; this header is the implementation's.
//
// Grammar (JSON):
//   filter   := {}                                  matches every record
//             | { clause, clause, ... }             all clauses (implicit $and)
//   clause   := "$and": [filter, ...]  (1..)        every filter matches
//             | "$or":  [filter, ...]  (1..)        at least one matches
//             | "$not": filter                      the filter does not match
//             | field: scalar                       shorthand for {"$eq": scalar}
//             | field: { op: operand, ... } (1..)   every operator matches
//   op       := $eq | $ne | $gt | $gte | $lt | $lte | $in | $nin | $exists
//   scalar   := string | number | true | false | null
//   field    := "key" | "id" | "metadata.<path>" | "<path>"
//   path     := segment ("." segment)*    segment: 1+ bytes, none of . " ' \ [ ] $ * or
//               a control byte; the whole field at most kMaxFieldBytes bytes
//
// Semantics (a "value" is what the path names in the record's metadata object):
//   $eq v     the value exists, is a scalar of v's type class and equals v.
//             Type classes: string, number (integers and reals compare as
//             numbers: 1 == 1.0), true, false, null. An array or object value
//             equals nothing.
//   $ne v     NOT ($eq v): also matches records where the field is missing
//             (as MongoDB and Chroma >= 0.5.12 do).
//   $gt.. v   v is a number or a string; the value must be of the same class;
//             numbers compare numerically, strings by their UTF-8 bytes.
//   $in [vs]  $eq one of vs (scalars; [] matches nothing). $nin = NOT $in.
//   $exists b b = true: the field is present (any JSON type, null included).
//   "key"     the record's 64-bit key; operands are integers 0..2^64-2,
//             compared as unsigned numbers. $exists on key is always true.
//   "id"      the record's string id; operands are strings. A record without
//             a string id has no "id" ($exists false; $ne matches it).
//   To reach a metadata field named "key" or "id", write "metadata.key".
//
// Limits (each violation is InvalidArgument naming the node's path, e.g.
// "where.$and[1].price.$gt"): nesting at most kMaxDepth levels, at most
// kMaxTerms operator terms in all, $in/$nin lists count as one term per value.

#ifndef QUIVER_FILTER_FILTER_H_
#define QUIVER_FILTER_FILTER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "quiver/status.h"

namespace quiver::filter {

/// Deepest nesting of $and / $or / $not / operator objects accepted.
inline constexpr std::size_t kMaxDepth = 32;
/// Most operator terms (leaf comparisons, counting each $in value) accepted.
inline constexpr std::size_t kMaxTerms = 1000;
/// Longest field name accepted, in bytes.
inline constexpr std::size_t kMaxFieldBytes = 256;

/// Which part of a record a field names.
enum class FieldKind : std::uint8_t { kMetadata, kKey, kId };

/// A parsed field name.
struct Field {
  FieldKind kind = FieldKind::kMetadata;
  /// Path segments inside the metadata object (kMetadata only), each validated.
  std::vector<std::string> segments;
  /// The name as written in the filter, for messages.
  std::string name;
};

/// A scalar operand. Integers that fit int64 are kInt; larger non-negative
/// integers (up to 2^64-1, for keys) are kUint; other numbers are kReal.
struct Value {
  enum class Type : std::uint8_t { kString, kInt, kUint, kReal, kBool, kNull };
  Type type = Type::kNull;
  std::string string;
  std::int64_t int_value = 0;
  std::uint64_t uint_value = 0;
  double real = 0;
  bool boolean = false;

  bool is_number() const {
    return type == Type::kInt || type == Type::kUint || type == Type::kReal;
  }
};

/// Node kinds of the typed tree.
enum class Op : std::uint8_t {
  kAll,  // matches every record (the empty filter)
  kAnd,
  kOr,
  kNot,
  kEq,
  kNe,
  kGt,
  kGte,
  kLt,
  kLte,
  kIn,
  kNin,
  kExists,
};

/// One node. Leaves (kEq..kExists) use `field` and `values` (one value, or
/// the list of $in/$nin; $exists keeps its flag in `exists`); kAnd/kOr/kNot
/// use `children` (kNot has exactly one).
struct Node {
  Op op = Op::kAll;
  Field field;
  std::vector<Value> values;
  bool exists = true;
  std::vector<Node> children;
};

/// Parses and checks a filter given as JSON text. Empty text (or only
/// whitespace) and "{}" give the kAll node. `where` names the root in error
/// messages ("where" by default). InvalidArgument, naming the path of the
/// first bad node and what was expected, for malformed JSON, a non-object
/// filter, unknown or misplaced operators, operands of the wrong type, empty
/// $and/$or, bad field names, and the limits above. Thread-safe (pure).
Result<Node> Parse(std::string_view json, std::string_view where = "where");

/// Checks one field name as Parse does; `path` names it in errors.
/// InvalidArgument for an empty or over-long name, a leading '$', an empty
/// segment or a forbidden byte.
Result<Field> ParseFieldName(std::string_view name, std::string_view path);

/// True if the filter matches every record (kAll).
inline bool MatchesAll(const Node& node) { return node.op == Op::kAll; }

/// The operator's spelling, e.g. "$gte"; "{}" for kAll.
std::string_view OpName(Op op);

}  // namespace quiver::filter

#endif  // QUIVER_FILTER_FILTER_H_
