// Copyright (c) Quiver authors.

#include "util/layout.h"

#include <charconv>
#include <limits>

namespace quiver::layout {
namespace {

constexpr std::string_view kCheckpointSuffix = ".usearch";

std::string Join(std::string_view dir, std::string_view name) {
  std::string path;
  path.reserve(dir.size() + 1 + name.size());
  path.append(dir).append("/").append(name);
  return path;
}

/// A decimal in [1, max] written without sign or leading zeros, or nullopt.
template <typename Int>
std::optional<Int> ParsePositiveDecimal(std::string_view digits) {
  if (digits.empty() || digits.front() == '0') return std::nullopt;
  Int value = 0;
  const char* end = digits.data() + digits.size();
  auto [ptr, ec] = std::from_chars(digits.data(), end, value);
  if (ec != std::errc() || ptr != end || value <= 0) return std::nullopt;
  return value;
}

}  // namespace

std::string DatabasePath(std::string_view dir) { return Join(dir, kDatabaseFileName); }
std::string LockPath(std::string_view dir) { return Join(dir, kLockFileName); }
std::string IndexesDir(std::string_view dir) { return Join(dir, kIndexesDirName); }

std::string IndexDir(std::string_view dir, std::int64_t collection_id) {
  return Join(IndexesDir(dir), std::to_string(collection_id));
}

std::string CheckpointFileName(std::uint64_t generation) {
  std::string name = std::to_string(generation);
  name.append(kCheckpointSuffix);
  return name;
}

std::string CheckpointPath(std::string_view index_dir, std::uint64_t generation) {
  return Join(index_dir, CheckpointFileName(generation));
}

std::string TempPath(std::string_view path) {
  std::string temp(path);
  temp.append(kTempSuffix);
  return temp;
}

std::optional<IndexFileName> ParseIndexFileName(std::string_view name) {
  IndexFileKind kind = IndexFileKind::kCheckpoint;
  if (name.ends_with(kTempSuffix)) {
    kind = IndexFileKind::kTempCheckpoint;
    name.remove_suffix(kTempSuffix.size());
  }
  if (!name.ends_with(kCheckpointSuffix)) return std::nullopt;
  name.remove_suffix(kCheckpointSuffix.size());
  auto generation = ParsePositiveDecimal<std::uint64_t>(name);
  if (!generation) return std::nullopt;
  return IndexFileName{kind, *generation};
}

std::optional<std::int64_t> ParseIndexDirName(std::string_view name) {
  return ParsePositiveDecimal<std::int64_t>(name);
}

}  // namespace quiver::layout
