// Copyright (c) Quiver authors.

#include "server/json_body.h"

#include <cmath>
#include <limits>
#include <utility>

#include <fmt/format.h>

namespace quiver::server {
namespace {

using simdjson::dom::element_type;

const char* TypeName(element_type type) {
  switch (type) {
    case element_type::ARRAY:
      return "an array";
    case element_type::OBJECT:
      return "an object";
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE:
      return "a number";
    case element_type::STRING:
      return "a string";
    case element_type::BOOL:
      return "a boolean";
    case element_type::NULL_VALUE:
      return "null";
  }
  return "an unknown JSON type";
}

Status TypeError(const JsonValue& value, const char* expected) {
  return Status::InvalidArgument(fmt::format("{}: expected {}, got {}", value.Name(), expected,
                                             TypeName(value.element().type())));
}

}  // namespace

std::string JsonValue::Name() const { return path_.empty() ? "the request body" : path_; }

Result<JsonObject> JsonValue::AsObject() const {
  simdjson::dom::object object;
  if (element_.get(object) != simdjson::SUCCESS) return TypeError(*this, "an object");
  return JsonObject(object, path_);
}

Result<JsonArray> JsonValue::AsArray() const {
  simdjson::dom::array array;
  if (element_.get(array) != simdjson::SUCCESS) return TypeError(*this, "an array");
  return JsonArray(array, path_);
}

Result<std::string_view> JsonValue::AsString() const {
  std::string_view text;
  if (element_.get(text) != simdjson::SUCCESS) return TypeError(*this, "a string");
  return text;
}

Result<bool> JsonValue::AsBool() const {
  bool flag = false;
  if (element_.get(flag) != simdjson::SUCCESS) return TypeError(*this, "a boolean");
  return flag;
}

Result<std::uint64_t> JsonValue::AsUint(std::uint64_t min, std::uint64_t max) const {
  std::uint64_t number = 0;
  switch (element_.type()) {
    case element_type::UINT64:
      number = element_.get_uint64().value_unsafe();
      break;
    case element_type::INT64: {
      const std::int64_t signed_number = element_.get_int64().value_unsafe();
      if (signed_number < 0) {
        return Status::InvalidArgument(
            fmt::format("{}: must be at least {}, got {}", Name(), min, signed_number));
      }
      number = static_cast<std::uint64_t>(signed_number);
      break;
    }
    case element_type::DOUBLE:
      return Status::InvalidArgument(fmt::format("{}: expected an integer, got {}", Name(),
                                                 element_.get_double().value_unsafe()));
    default:
      return TypeError(*this, "an integer");
  }
  if (number < min || number > max) {
    return Status::InvalidArgument(
        fmt::format("{}: must be between {} and {}, got {}", Name(), min, max, number));
  }
  return number;
}

Status JsonValue::AppendFloats(std::size_t dimensions, std::vector<float>* out) const {
  simdjson::dom::array array;
  if (element_.get(array) != simdjson::SUCCESS) return TypeError(*this, "an array of numbers");
  const std::size_t size = array.size();
  if (size == 0) return Status::InvalidArgument(fmt::format("{}: must not be empty", Name()));
  if (dimensions != 0 && size != dimensions) {
    return Status::InvalidArgument(
        fmt::format("{}: has {} values, expected {} (the dimensions)", Name(), size, dimensions));
  }
  const std::size_t original_size = out->size();
  out->reserve(original_size + size);
  std::size_t index = 0;
  for (simdjson::dom::element item : array) {
    double number = 0;
    // get_double accepts the three numeric kinds (int64, uint64, double).
    if (item.get_double().get(number) != simdjson::SUCCESS) {
      out->resize(original_size);
      return Status::InvalidArgument(
          fmt::format("{}[{}]: expected a number, got {}", Name(), index, TypeName(item.type())));
    }
    const float component = static_cast<float>(number);
    if (!std::isfinite(component)) {
      out->resize(original_size);
      return Status::InvalidArgument(
          fmt::format("{}[{}]: {} is outside the float32 range", Name(), index, number));
    }
    out->push_back(component);
    ++index;
  }
  return Status::Ok();
}

std::string JsonValue::Minified() const { return simdjson::minify(element_); }

Status JsonArray::ForEach(const std::function<Status(std::size_t, const JsonValue&)>& fn) const {
  std::size_t index = 0;
  for (simdjson::dom::element item : array_) {
    Status status = fn(index, JsonValue(item, fmt::format("{}[{}]", path_, index)));
    if (!status.ok()) return status;
    ++index;
  }
  return Status::Ok();
}

Status JsonArray::CheckSize(std::size_t min, std::size_t max) const {
  const std::size_t n = size();
  if (n < min) {
    return Status::InvalidArgument(
        min == 1 ? fmt::format("{}: must not be empty", Name())
                 : fmt::format("{}: has {} elements, at least {} needed", Name(), n, min));
  }
  if (n > max) {
    return Status::InvalidArgument(
        fmt::format("{}: has {} elements, at most {} allowed", Name(), n, max));
  }
  return Status::Ok();
}

std::string JsonArray::Name() const { return path_.empty() ? "the request body" : path_; }

std::string JsonObject::ChildPath(std::string_view key) const {
  return path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key);
}

Result<JsonValue> JsonObject::Required(std::string_view key) const {
  std::optional<JsonValue> value = Optional(key);
  if (!value) {
    return Status::InvalidArgument(fmt::format("missing field '{}'", ChildPath(key)));
  }
  return std::move(*value);
}

std::optional<JsonValue> JsonObject::Optional(std::string_view key) const {
  simdjson::dom::element value;
  if (object_.at_key(key).get(value) != simdjson::SUCCESS || value.is_null()) {
    return std::nullopt;
  }
  return JsonValue(value, ChildPath(key));
}

Status JsonObject::OnlyFields(std::initializer_list<std::string_view> known) const {
  for (const simdjson::dom::key_value_pair field : object_) {
    bool is_known = false;
    for (std::string_view name : known) is_known = is_known || field.key == name;
    if (!is_known) {
      return Status::InvalidArgument(fmt::format("unknown field '{}'; expected one of: {}",
                                                 ChildPath(field.key), fmt::join(known, ", ")));
    }
  }
  return Status::Ok();
}

Result<std::unique_ptr<JsonBody>> JsonBody::Parse(std::string_view text) {
  std::unique_ptr<JsonBody> body(new JsonBody());
  // parse() copies the text into a buffer with simdjson's padding: the
  // request's string cannot be assumed to have SIMDJSON_PADDING spare bytes.
  simdjson::error_code error = body->parser_.parse(text.data(), text.size()).get(body->root_);
  if (error != simdjson::SUCCESS) {
    return Status::InvalidArgument(
        fmt::format("request body is not valid JSON: {}", simdjson::error_message(error)));
  }
  return body;
}

Status ValidateJsonObjectText(std::string_view text, std::string_view name) {
  // One parser per thread, reused: metadata strings are small and many.
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  simdjson::error_code error = parser.parse(text.data(), text.size()).get(root);
  if (error != simdjson::SUCCESS) {
    return Status::InvalidArgument(fmt::format("{}: not valid JSON ({}); expected a JSON object",
                                               name, simdjson::error_message(error)));
  }
  if (root.type() != element_type::OBJECT) {
    return Status::InvalidArgument(
        fmt::format("{}: expected a JSON object, got {}", name, TypeName(root.type())));
  }
  return Status::Ok();
}

}  // namespace quiver::server
