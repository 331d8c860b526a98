// Copyright (c) Quiver authors.

#include "filter/filter.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <limits>

#include "util/status_macros.h"

namespace quiver::filter {
namespace {

using Json = nlohmann::json;

/// Walks the JSON tree once, building the typed tree and counting terms.
class Parser {
 public:
  Result<Node> ParseFilter(const Json& json, const std::string& path, std::size_t depth) {
    if (depth > kMaxDepth) {
      return Error(path, "nesting is deeper than " + std::to_string(kMaxDepth) + " levels");
    }
    if (!json.is_object()) {
      return Error(path, std::string("is a JSON ") + json.type_name() +
                             "; expected an object such as {\"field\": value}");
    }
    Node all;
    all.op = Op::kAnd;
    for (const auto& [name, value] : json.items()) {
      const std::string at = path + "." + name;
      Result<Node> clause = name == "$and" || name == "$or" ? ParseList(name, value, at, depth)
                            : name == "$not"                ? ParseNot(value, at, depth)
                                                            : ParseField(name, value, at, depth);
      if (!clause.ok()) return clause.status();
      all.children.push_back(std::move(clause).value());
    }
    if (all.children.empty()) return Node{};  // {} matches everything
    if (all.children.size() == 1) return std::move(all.children.front());
    return all;
  }

 private:
  static Status Error(const std::string& path, const std::string& what) {
    return Status::InvalidArgument(path + ": " + what);
  }

  Status CountTerms(std::size_t n, const std::string& path) {
    terms_ += n;
    if (terms_ > kMaxTerms) {
      return Error(path, "the filter has more than " + std::to_string(kMaxTerms) +
                             " terms; expected at most " + std::to_string(kMaxTerms));
    }
    return Status::Ok();
  }

  Result<Node> ParseList(const std::string& name, const Json& value, const std::string& path,
                         std::size_t depth) {
    if (!value.is_array() || value.empty()) {
      return Error(path, std::string("is ") +
                             (value.is_array() ? "an empty array" : value.type_name()) +
                             "; expected a non-empty array of filters");
    }
    Node node;
    node.op = name == "$and" ? Op::kAnd : Op::kOr;
    for (std::size_t i = 0; i < value.size(); ++i) {
      Result<Node> child = ParseFilter(value[i], path + "[" + std::to_string(i) + "]", depth + 1);
      if (!child.ok()) return child.status();
      node.children.push_back(std::move(child).value());
    }
    return node;
  }

  Result<Node> ParseNot(const Json& value, const std::string& path, std::size_t depth) {
    Result<Node> child = ParseFilter(value, path, depth + 1);
    if (!child.ok()) return child.status();
    Node node;
    node.op = Op::kNot;
    node.children.push_back(std::move(child).value());
    return node;
  }

  /// A scalar operand of a metadata field (any scalar) or of key / id.
  static Result<Value> ParseScalar(const Json& json, const Field& field, const std::string& path) {
    Value v;
    switch (json.type()) {
      case Json::value_t::string:
        v.type = Value::Type::kString;
        v.string = json.get<std::string>();
        break;
      case Json::value_t::number_unsigned: {
        const auto u = json.get<std::uint64_t>();
        if (u <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
          v.type = Value::Type::kInt;
          v.int_value = static_cast<std::int64_t>(u);
        } else {
          v.type = Value::Type::kUint;
          v.uint_value = u;
        }
        break;
      }
      case Json::value_t::number_integer:
        v.type = Value::Type::kInt;
        v.int_value = json.get<std::int64_t>();
        break;
      case Json::value_t::number_float:
        v.type = Value::Type::kReal;
        v.real = json.get<double>();
        break;
      case Json::value_t::boolean:
        v.type = Value::Type::kBool;
        v.boolean = json.get<bool>();
        break;
      case Json::value_t::null:
        v.type = Value::Type::kNull;
        break;
      default:
        return Error(path, std::string("is a JSON ") + json.type_name() +
                               "; expected a string, number, boolean or null");
    }
    if (field.kind == FieldKind::kKey) {
      const bool integer =
          v.type == Value::Type::kUint || (v.type == Value::Type::kInt && v.int_value >= 0);
      if (!integer || (v.type == Value::Type::kUint && v.uint_value == ~std::uint64_t{0})) {
        return Error(path, "'key' is compared with integers 0..18446744073709551614");
      }
      if (v.type == Value::Type::kInt) {
        v.type = Value::Type::kUint;
        v.uint_value = static_cast<std::uint64_t>(v.int_value);
      }
    } else if (field.kind == FieldKind::kId && v.type != Value::Type::kString) {
      return Error(path, "'id' is compared with strings");
    }
    return v;
  }

  Result<Node> ParseField(const std::string& name, const Json& value, const std::string& path,
                          std::size_t depth) {
    Result<Field> field = filter::ParseFieldName(name, path);
    if (!field.ok()) return field.status();
    if (value.is_array()) {
      return Error(path, "is an array; to match one of several values use {\"$in\": [...]}");
    }
    if (!value.is_object()) {  // shorthand equality
      QUIVER_RETURN_IF_ERROR(CountTerms(1, path));
      Result<Value> v = ParseScalar(value, *field, path);
      if (!v.ok()) return v.status();
      Node node;
      node.op = Op::kEq;
      node.field = std::move(field).value();
      node.values.push_back(std::move(v).value());
      return node;
    }
    if (value.empty()) {
      return Error(path, "is an empty object; expected an operator such as {\"$eq\": value}");
    }
    if (depth + 1 > kMaxDepth) {
      return Error(path, "nesting is deeper than " + std::to_string(kMaxDepth) + " levels");
    }
    Node all;
    all.op = Op::kAnd;
    for (const auto& [op_name, operand] : value.items()) {
      Result<Node> leaf = ParseOperator(*field, op_name, operand, path + "." + op_name);
      if (!leaf.ok()) return leaf.status();
      all.children.push_back(std::move(leaf).value());
    }
    if (all.children.size() == 1) return std::move(all.children.front());
    return all;
  }

  Result<Node> ParseOperator(const Field& field, const std::string& op_name, const Json& operand,
                             const std::string& path) {
    static constexpr struct {
      const char* name;
      Op op;
    } kOps[] = {{"$eq", Op::kEq},   {"$ne", Op::kNe},   {"$gt", Op::kGt},
                {"$gte", Op::kGte}, {"$lt", Op::kLt},   {"$lte", Op::kLte},
                {"$in", Op::kIn},   {"$nin", Op::kNin}, {"$exists", Op::kExists}};
    Node node;
    node.field = field;
    bool known = false;
    for (const auto& entry : kOps) {
      if (op_name == entry.name) {
        node.op = entry.op;
        known = true;
      }
    }
    if (!known) {
      return Error(path, "unknown operator '" + op_name +
                             "'; expected one of $eq, $ne, $gt, $gte, $lt, $lte, $in, $nin, "
                             "$exists");
    }
    switch (node.op) {
      case Op::kExists:
        QUIVER_RETURN_IF_ERROR(CountTerms(1, path));
        if (!operand.is_boolean()) {
          return Error(
              path, std::string("is a JSON ") + operand.type_name() + "; expected true or false");
        }
        node.exists = operand.get<bool>();
        return node;
      case Op::kIn:
      case Op::kNin: {
        if (!operand.is_array()) {
          return Error(path, std::string("is a JSON ") + operand.type_name() +
                                 "; expected an array of strings, numbers, booleans or nulls");
        }
        QUIVER_RETURN_IF_ERROR(CountTerms(std::max<std::size_t>(1, operand.size()), path));
        for (std::size_t i = 0; i < operand.size(); ++i) {
          Result<Value> v = ParseScalar(operand[i], field, path + "[" + std::to_string(i) + "]");
          if (!v.ok()) return v.status();
          node.values.push_back(std::move(v).value());
        }
        return node;
      }
      default: {
        QUIVER_RETURN_IF_ERROR(CountTerms(1, path));
        Result<Value> v = ParseScalar(operand, field, path);
        if (!v.ok()) return v.status();
        const bool ordered =
            node.op == Op::kGt || node.op == Op::kGte || node.op == Op::kLt || node.op == Op::kLte;
        if (ordered && !v->is_number() && v->type != Value::Type::kString) {
          return Error(path, std::string("is ") +
                                 (v->type == Value::Type::kBool ? "a boolean" : "null") +
                                 "; expected a number or a string");
        }
        node.values.push_back(std::move(v).value());
        return node;
      }
    }
  }

  std::size_t terms_ = 0;
};

}  // namespace

namespace {
Status FieldError(const std::string& path, const std::string& what) {
  return Status::InvalidArgument(path + ": " + what);
}
}  // namespace

Result<Field> ParseFieldName(std::string_view name_view, std::string_view path_view) {
  const std::string name(name_view);
  const std::string path(path_view);
  if (name.empty()) return FieldError(path, "a field name is empty");
  if (name.size() > kMaxFieldBytes) {
    return FieldError(path.substr(0, path.size() - name.size()) + "<field>",
                      "a field name has " + std::to_string(name.size()) +
                          " bytes; expected at most " + std::to_string(kMaxFieldBytes));
  }
  if (name[0] == '$') {
    return FieldError(path, "unknown operator '" + name +
                                "' in place of a field; expected $and, $or, $not or a field name");
  }
  Field field;
  field.name = name;
  if (name == "key") {
    field.kind = FieldKind::kKey;
    return field;
  }
  if (name == "id") {
    field.kind = FieldKind::kId;
    return field;
  }
  std::string_view rest = name;
  if (rest.starts_with("metadata.")) rest.remove_prefix(9);
  while (true) {
    const std::size_t dot = rest.find('.');
    const std::string_view segment = rest.substr(0, dot);
    if (segment.empty()) {
      return FieldError(path, "field '" + name +
                                  "' has an empty path segment; expected names "
                                  "separated by single dots, e.g. \"a.b\"");
    }
    for (const char c : segment) {
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u == 0x7f || c == '"' || c == '\'' || c == '\\' || c == '[' || c == ']' ||
          c == '$' || c == '*') {
        return FieldError(path,
                          "field '" + name +
                              "' contains a quote, backslash, bracket, '$', '*' or control "
                              "character; expected a plain name such as \"price\" or \"a.b\"");
      }
    }
    field.segments.emplace_back(segment);
    if (dot == std::string_view::npos) break;
    rest.remove_prefix(dot + 1);
  }
  return field;
}

Result<Node> Parse(std::string_view json, std::string_view where) {
  const std::string root(where);
  std::size_t first = json.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return Node{};
  Json parsed = Json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return Status::InvalidArgument(root +
                                   ": is not valid JSON; expected an object such as "
                                   "{\"field\": value}");
  }
  Parser parser;
  return parser.ParseFilter(parsed, root, 1);
}

std::string_view OpName(Op op) {
  switch (op) {
    case Op::kAll:
      return "{}";
    case Op::kAnd:
      return "$and";
    case Op::kOr:
      return "$or";
    case Op::kNot:
      return "$not";
    case Op::kEq:
      return "$eq";
    case Op::kNe:
      return "$ne";
    case Op::kGt:
      return "$gt";
    case Op::kGte:
      return "$gte";
    case Op::kLt:
      return "$lt";
    case Op::kLte:
      return "$lte";
    case Op::kIn:
      return "$in";
    case Op::kNin:
      return "$nin";
    case Op::kExists:
      return "$exists";
  }
  return "?";
}

}  // namespace quiver::filter
