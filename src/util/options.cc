// Copyright (c) Quiver authors.
//
// Names, parsing and validation of the public configuration types.

#include "quiver/options.h"

#include <fmt/format.h>

#include "quiver/store.h"

namespace quiver {

std::string_view MetricName(Metric metric) {
  switch (metric) {
    case Metric::kCos:
      return "cos";
    case Metric::kIp:
      return "ip";
    case Metric::kL2sq:
      return "l2sq";
  }
  return "unknown";
}

Result<Metric> ParseMetric(std::string_view name) {
  if (name == "cos") return Metric::kCos;
  if (name == "ip") return Metric::kIp;
  if (name == "l2sq") return Metric::kL2sq;
  return Status::InvalidArgument(fmt::format("metric: '{}' is not one of cos, ip, l2sq", name));
}

std::string_view ScalarKindName(ScalarKind kind) {
  switch (kind) {
    case ScalarKind::kF32:
      return "f32";
    case ScalarKind::kF16:
      return "f16";
    case ScalarKind::kBF16:
      return "bf16";
    case ScalarKind::kI8:
      return "i8";
  }
  return "unknown";
}

Result<ScalarKind> ParseScalarKind(std::string_view name) {
  if (name == "f32") return ScalarKind::kF32;
  if (name == "f16") return ScalarKind::kF16;
  if (name == "bf16") return ScalarKind::kBF16;
  if (name == "i8") return ScalarKind::kI8;
  return Status::InvalidArgument(
      fmt::format("scalar: '{}' is not one of f32, f16, bf16, i8", name));
}

namespace {

Status CheckRange(std::string_view field, std::uint64_t value, std::uint64_t lo, std::uint64_t hi) {
  if (value >= lo && value <= hi) return Status::Ok();
  return Status::InvalidArgument(
      fmt::format("{}: {} is out of range; expected {}..{}", field, value, lo, hi));
}

}  // namespace

Status CollectionConfig::Validate() const {
  for (Status s : {CheckRange("dimensions", dimensions, 1, 65536),
                   CheckRange("connectivity", connectivity, 2, 256),
                   CheckRange("expansion_add", expansion_add, 1, 4096),
                   CheckRange("expansion_search", expansion_search, 1, 4096),
                   CheckRange("model_id length", model_id.size(), 0, 256),
                   CheckRange("model_version length", model_version.size(), 0, 256)}) {
    if (!s.ok()) return s;
  }
  if (MetricName(metric) == "unknown") return Status::InvalidArgument("metric: unknown value");
  if (ScalarKindName(scalar) == "unknown") return Status::InvalidArgument("scalar: unknown value");
  return Status::Ok();
}

std::string CollectionConfig::ToString() const {
  std::string model = model_id.empty() ? "-" : model_id;
  if (!model_version.empty()) model += "@" + model_version;
  return fmt::format("dims={} metric={} scalar={} M={} ef_add={} ef={} model={}", dimensions,
                     MetricName(metric), ScalarKindName(scalar), connectivity, expansion_add,
                     expansion_search, model);
}

Status ValidateCollectionName(std::string_view name) {
  if (name.empty() || name.size() > 64) {
    return Status::InvalidArgument(fmt::format(
        "collection name: {} characters; expected 1..64 characters of [A-Za-z0-9_-]", name.size()));
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-';
    if (!ok) {
      return Status::InvalidArgument(fmt::format(
          "collection name: '{}' contains '{}'; expected only [A-Za-z0-9_-]",
          name.size() > 80 ? std::string(name.substr(0, 80)) + "..." : std::string(name), c));
    }
  }
  return Status::Ok();
}

}  // namespace quiver
