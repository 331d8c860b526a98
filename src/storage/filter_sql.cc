// Copyright (c) Quiver authors.

#include "storage/filter_sql.h"

#include <bit>
#include <limits>

namespace quiver::storage {
namespace {

using filter::FieldKind;
using filter::Node;
using filter::Op;
using filter::Value;

constexpr std::uint64_t kSignBit = std::uint64_t{1} << 63;

const char* Comparison(Op op) {
  switch (op) {
    case Op::kGt:
      return ">";
    case Op::kGte:
      return ">=";
    case Op::kLt:
      return "<";
    case Op::kLte:
      return "<=";
    default:
      return "=";
  }
}

class Compiler {
 public:
  SqlFilter Finish(const Node& node) {
    Emit(node);
    return SqlFilter{std::move(out_), std::move(params_)};
  }

 private:
  void Param(SqlParam p) {
    out_ += '?';
    params_.push_back(std::move(p));
  }

  /// A number operand as SQLite should compare it.
  void NumberParam(const Value& v) {
    switch (v.type) {
      case Value::Type::kInt:
        Param(v.int_value);
        break;
      case Value::Type::kUint:
        Param(static_cast<double>(v.uint_value));
        break;
      default:
        Param(v.real);
        break;
    }
  }

  void Emit(const Node& node) {
    switch (node.op) {
      case Op::kAll:
        out_ += '1';
        return;
      case Op::kAnd:
      case Op::kOr: {
        out_ += '(';
        for (std::size_t i = 0; i < node.children.size(); ++i) {
          if (i > 0) out_ += node.op == Op::kAnd ? " AND " : " OR ";
          Emit(node.children[i]);
        }
        out_ += ')';
        return;
      }
      case Op::kNot:
        Negate(node.children.front());
        return;
      case Op::kNe:
      case Op::kNin: {
        Node positive = node;
        positive.op = node.op == Op::kNe ? Op::kEq : Op::kIn;
        Negate(positive);
        return;
      }
      default:
        Leaf(node);
        return;
    }
  }

  void Negate(const Node& node) {
    out_ += "(NOT COALESCE(";
    Emit(node);
    out_ += ", 0))";
  }

  void Leaf(const Node& node) {
    switch (node.field.kind) {
      case FieldKind::kKey:
        KeyLeaf(node);
        return;
      case FieldKind::kId:
        IdLeaf(node);
        return;
      case FieldKind::kMetadata:
        MetadataLeaf(node);
        return;
    }
  }

  // --- metadata fields ---------------------------------------------------------

  void MetadataLeaf(const Node& node) {
    const std::string path = JsonPathLiteral(node.field.segments);
    const std::string value = "json_extract(metadata, " + path + ")";
    const std::string type = "json_type(metadata, " + path + ")";
    switch (node.op) {
      case Op::kExists:
        out_ += type + (node.exists ? " IS NOT NULL" : " IS NULL");
        return;
      case Op::kIn: {
        if (node.values.empty()) {
          out_ += '0';
          return;
        }
        // One IN list per type class, so that an expression index on the
        // field serves each of them.
        std::vector<const Value*> strings, numbers;
        std::vector<const char*> json_types;
        for (const Value& v : node.values) {
          if (v.type == Value::Type::kString) {
            strings.push_back(&v);
          } else if (v.is_number()) {
            numbers.push_back(&v);
          } else {
            json_types.push_back(v.type == Value::Type::kNull ? "'null'"
                                 : v.boolean                  ? "'true'"
                                                              : "'false'");
          }
        }
        out_ += '(';
        bool first = true;
        auto separator = [&] {
          if (!first) out_ += " OR ";
          first = false;
        };
        for (const auto* group : {&strings, &numbers}) {
          if (group->empty()) continue;
          separator();
          out_ += '(' + value + " IN (";
          for (std::size_t i = 0; i < group->size(); ++i) {
            if (i > 0) out_ += ',';
            if (group == &strings) {
              Param((*group)[i]->string);
            } else {
              NumberParam(*(*group)[i]);
            }
          }
          out_ += ") AND " + type + (group == &strings ? " = 'text')" : " IN ('integer','real'))");
        }
        if (!json_types.empty()) {
          separator();
          out_ += type + " IN (";
          for (std::size_t i = 0; i < json_types.size(); ++i) {
            if (i > 0) out_ += ',';
            out_ += json_types[i];
          }
          out_ += ')';
        }
        out_ += ')';
        return;
      }
      default: {  // $eq and the ordered comparisons
        const Value& v = node.values.front();
        if (v.type == Value::Type::kBool) {
          out_ += type + (v.boolean ? " = 'true'" : " = 'false'");
          return;
        }
        if (v.type == Value::Type::kNull) {
          out_ += type + " = 'null'";
          return;
        }
        out_ += '(' + value + ' ' + Comparison(node.op) + ' ';
        if (v.type == Value::Type::kString) {
          Param(v.string);
          out_ += " AND " + type + " = 'text')";
        } else {
          NumberParam(v);
          out_ += " AND " + type + " IN ('integer','real'))";
        }
        return;
      }
    }
  }

  // --- the string id -------------------------------------------------------------

  void IdLeaf(const Node& node) {
    switch (node.op) {
      case Op::kExists:
        out_ += node.exists ? "id IS NOT NULL" : "id IS NULL";
        return;
      case Op::kIn:
        if (node.values.empty()) {
          out_ += '0';
          return;
        }
        out_ += "id IN (";
        for (std::size_t i = 0; i < node.values.size(); ++i) {
          if (i > 0) out_ += ',';
          Param(node.values[i].string);
        }
        out_ += ')';
        return;
      default:
        out_ += std::string("id ") + Comparison(node.op) + ' ';
        Param(node.values.front().string);
        return;
    }
  }

  // --- the key (uint64 stored as its int64 bit pattern) ---------------------------

  static std::int64_t Signed(std::uint64_t v) { return std::bit_cast<std::int64_t>(v); }

  /// Keys k with lo <= k <= hi as unsigned numbers. The int64 column orders
  /// keys >= 2^63 before the others, so the range splits at 2^63.
  void KeyRange(std::uint64_t lo, std::uint64_t hi) {
    if (lo > hi) {
      out_ += '0';
      return;
    }
    const bool low_part = lo < kSignBit;
    const bool high_part = hi >= kSignBit;
    out_ += '(';
    if (low_part) {
      out_ += "key BETWEEN ";
      Param(Signed(lo));
      out_ += " AND ";
      Param(Signed(std::min(hi, kSignBit - 1)));
    }
    if (low_part && high_part) out_ += " OR ";
    if (high_part) {
      out_ += "key BETWEEN ";
      Param(Signed(std::max(lo, kSignBit)));
      out_ += " AND ";
      Param(Signed(hi));
    }
    out_ += ')';
  }

  void KeyLeaf(const Node& node) {
    constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
    switch (node.op) {
      case Op::kExists:
        out_ += node.exists ? '1' : '0';
        return;
      case Op::kIn:
        if (node.values.empty()) {
          out_ += '0';
          return;
        }
        out_ += "key IN (";
        for (std::size_t i = 0; i < node.values.size(); ++i) {
          if (i > 0) out_ += ',';
          Param(Signed(node.values[i].uint_value));
        }
        out_ += ')';
        return;
      default: {
        const std::uint64_t v = node.values.front().uint_value;
        switch (node.op) {
          case Op::kGt:
            v == kMax ? (void)(out_ += '0') : KeyRange(v + 1, kMax);
            return;
          case Op::kGte:
            KeyRange(v, kMax);
            return;
          case Op::kLt:
            v == 0 ? (void)(out_ += '0') : KeyRange(0, v - 1);
            return;
          case Op::kLte:
            KeyRange(0, v);
            return;
          default:
            out_ += "key = ";
            Param(Signed(v));
            return;
        }
      }
    }
  }

  std::string out_;
  std::vector<SqlParam> params_;
};

}  // namespace

std::string JsonPathLiteral(const std::vector<std::string>& segments) {
  std::string path = "'$";
  for (const std::string& segment : segments) {
    path += ".\"";
    for (const char c : segment) {
      path += c;
      if (c == '\'') path += '\'';  // unreachable after Parse; doubled all the same
    }
    path += '"';
  }
  path += '\'';
  return path;
}

SqlFilter CompileFilter(const Node& node) { return Compiler().Finish(node); }

}  // namespace quiver::storage
