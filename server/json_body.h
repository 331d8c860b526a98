// Copyright (c) Quiver authors.
//
// Request bodies: parsing with simdjson (fast enough that an insert of
// 1,000 x 768 floats spends its time in the store, not in JSON) and typed,
// path-aware field access. Every error is an InvalidArgument whose message
// names the offending field by its JSON path, e.g.
//   "chunks[3].embedding[17]: not a number"
//   "missing field 'database_id'"
//
// JSON has no NaN or Infinity: simdjson rejects the tokens NaN/Infinity and
// numbers that overflow a double (1e999) as malformed JSON, and
// AppendFloats rejects finite doubles that overflow float32 (1e300).
//
// Lifetime: every JsonValue, JsonArray and JsonObject points into the memory
// of the JsonBody it came from and must not outlive it. Not thread-safe; a
// body belongs to the request that parsed it.

#ifndef QUIVER_SERVER_JSON_BODY_H_
#define QUIVER_SERVER_JSON_BODY_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <simdjson.h>

#include "quiver/status.h"

namespace quiver::server {

class JsonArray;
class JsonObject;

/// One JSON value and the path that names it in error messages ("" = the body).
class JsonValue {
 public:
  JsonValue(simdjson::dom::element element, std::string path)
      : element_(element), path_(std::move(path)) {}

  /// "the request body" for the root, else the path, e.g. "chunks[0].text".
  std::string Name() const;
  bool IsNull() const { return element_.is_null(); }

  /// InvalidArgument "<name>: expected an object" (and so on) on a type mismatch.
  Result<JsonObject> AsObject() const;
  Result<JsonArray> AsArray() const;
  Result<std::string_view> AsString() const;
  Result<bool> AsBool() const;
  /// An integer in [min, max]; rejects fractions (3.5), exponents that are not
  /// integers, negative numbers below min and anything above max.
  Result<std::uint64_t> AsUint(std::uint64_t min, std::uint64_t max) const;

  /// Requires an array of exactly `dimensions` numbers (any non-zero length if
  /// `dimensions` is 0) that are finite in float32, and appends them to `out`.
  /// On error `out` is left with its original size.
  Status AppendFloats(std::size_t dimensions, std::vector<float>* out) const;

  /// The value re-serialized compactly (e.g. a metadata object to store).
  std::string Minified() const;

  /// The underlying simdjson element, for type dispatch (e.g. int-or-string ids).
  simdjson::dom::element element() const { return element_; }
  const std::string& path() const { return path_; }

 private:
  simdjson::dom::element element_;
  std::string path_;
};

class JsonArray {
 public:
  JsonArray(simdjson::dom::array array, std::string path) : array_(array), path_(std::move(path)) {}

  std::size_t size() const { return array_.size(); }
  bool empty() const { return size() == 0; }

  /// Calls fn(i, value) for each element in order; stops at and returns the
  /// first non-OK status. (simdjson arrays are walked, not indexed: at(i) is O(i).)
  Status ForEach(const std::function<Status(std::size_t, const JsonValue&)>& fn) const;

  /// InvalidArgument "<name>: must not be empty" / "...has N elements, at most M".
  Status CheckSize(std::size_t min, std::size_t max) const;
  std::string Name() const;

 private:
  simdjson::dom::array array_;
  std::string path_;
};

class JsonObject {
 public:
  JsonObject(simdjson::dom::object object, std::string path)
      : object_(object), path_(std::move(path)) {}

  /// The field, or InvalidArgument "missing field '<path>'" when absent or null.
  Result<JsonValue> Required(std::string_view key) const;
  /// The field, or nullopt when absent or null.
  std::optional<JsonValue> Optional(std::string_view key) const;

  /// InvalidArgument "unknown field '<path>'; expected one of: ..." if the
  /// object has a field not in `known` (catches typos like "top_k" for "k").
  Status OnlyFields(std::initializer_list<std::string_view> known) const;

 private:
  std::string ChildPath(std::string_view key) const;

  simdjson::dom::object object_;
  std::string path_;
};

/// A parsed request body. Owns the parser whose memory the values point into.
class JsonBody {
 public:
  /// InvalidArgument "request body is not valid JSON: <reason>" for malformed
  /// JSON (including NaN, Infinity, 1e999, invalid UTF-8, nesting deeper than 1024).
  static Result<std::unique_ptr<JsonBody>> Parse(std::string_view text);

  /// The root value.
  JsonValue root() const { return JsonValue(root_, ""); }
  /// The root, which must be an object.
  Result<JsonObject> RootObject() const { return root().AsObject(); }

 private:
  JsonBody() = default;

  simdjson::dom::parser parser_;
  simdjson::dom::element root_;
};

/// Parses `text` on its own (e.g. memista's metadata, a JSON object sent as a
/// string) and checks that it is a JSON object; InvalidArgument naming `name` otherwise.
Status ValidateJsonObjectText(std::string_view text, std::string_view name);

}  // namespace quiver::server

#endif  // QUIVER_SERVER_JSON_BODY_H_
