// Copyright (c) Quiver authors.
//
// Helpers of the CLI tests: a temporary directory, and writers of small
// vector files (fbin, fvecs, npy, text) with exact control over their bytes.

#ifndef QUIVER_TESTS_CLI_TEST_FILES_H_
#define QUIVER_TESTS_CLI_TEST_FILES_H_

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace quiver::cli::testing {

/// A fresh directory under the system's temporary directory, removed with
/// everything in it when the object is destroyed.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "quiver-cli-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  /// The path of `name` inside the directory.
  std::string Path(std::string_view name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

/// `rows` x `dims` floats uniform in [-1, 1), row-major, from a fixed seed.
inline std::vector<float> RandomMatrix(std::size_t rows, std::size_t dims,
                                       std::uint32_t seed = 42) {
  std::mt19937 generator(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> values(rows * dims);
  for (float& value : values) value = uniform(generator);
  return values;
}

/// Collects little-endian bytes and writes them to a file.
class Bytes {
 public:
  Bytes& Int32(std::int32_t value) { return Raw(&value, sizeof(value)); }
  Bytes& Floats(const float* values, std::size_t count) {
    return Raw(values, count * sizeof(float));
  }
  Bytes& Text(std::string_view text) { return Raw(text.data(), text.size()); }
  Bytes& Raw(const void* data, std::size_t size) {
    const auto* begin = static_cast<const char*>(data);
    bytes_.insert(bytes_.end(), begin, begin + size);
    return *this;
  }
  /// Drops the last `count` bytes (to make a truncated file).
  Bytes& Chop(std::size_t count) {
    bytes_.resize(bytes_.size() - count);
    return *this;
  }
  void WriteTo(const std::string& path) const {
    std::ofstream(path, std::ios::binary)
        .write(bytes_.data(), static_cast<std::streamsize>(bytes_.size()));
  }

 private:
  std::vector<char> bytes_;
};

/// An .fbin file: int32 rows, int32 dims, then the floats.
inline Bytes FbinBytes(const std::vector<float>& values, std::size_t dims) {
  const std::size_t rows = values.size() / dims;
  Bytes bytes;
  bytes.Int32(static_cast<std::int32_t>(rows)).Int32(static_cast<std::int32_t>(dims));
  return bytes.Floats(values.data(), values.size());
}

/// An .fvecs file: per row, int32 dims, then the row's floats.
inline Bytes FvecsBytes(const std::vector<float>& values, std::size_t dims) {
  Bytes bytes;
  for (std::size_t row = 0; row < values.size() / dims; ++row) {
    bytes.Int32(static_cast<std::int32_t>(dims)).Floats(values.data() + row * dims, dims);
  }
  return bytes;
}

/// An .npy file of format `version` (1, 2 or 3) whose header dict is `dict`
/// (padded as numpy pads it), followed by `data_size` bytes of `data`.
inline Bytes NpyBytes(std::string_view dict, const void* data, std::size_t data_size,
                      int version = 1) {
  const std::size_t prefix = version == 1 ? 10 : 12;
  std::string header(dict);
  while ((prefix + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  const char magic_and_version[8] = {'\x93', 'N', 'U', 'M', 'P', 'Y', static_cast<char>(version),
                                     0};
  Bytes bytes;
  bytes.Raw(magic_and_version, sizeof(magic_and_version));
  if (version == 1) {
    const auto length = static_cast<std::uint16_t>(header.size());
    bytes.Raw(&length, sizeof(length));
  } else {
    const auto length = static_cast<std::uint32_t>(header.size());
    bytes.Raw(&length, sizeof(length));
  }
  return bytes.Text(header).Raw(data, data_size);
}

/// A 2-D '<f4' .npy file of `values`, `dims` columns, C order.
inline Bytes NpyFloat32Bytes(const std::vector<float>& values, std::size_t dims, int version = 1) {
  const std::string dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (" +
                           std::to_string(values.size() / dims) + ", " + std::to_string(dims) +
                           "), }";
  return NpyBytes(dict, values.data(), values.size() * sizeof(float), version);
}

}  // namespace quiver::cli::testing

#endif  // QUIVER_TESTS_CLI_TEST_FILES_H_
