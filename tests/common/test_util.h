// Copyright (c) Quiver authors.
//
// Helpers shared by the test binaries: temporary directories, deterministic
// data sets and an exact brute-force oracle.

#ifndef QUIVER_TESTS_COMMON_TEST_UTIL_H_
#define QUIVER_TESTS_COMMON_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "quiver/quiver.h"

namespace quiver::testing {

/// A fresh directory under $TMPDIR, removed with its contents on destruction.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "quiver-test-XXXXXX").string();
    char* made = ::mkdtemp(pattern.data());
    EXPECT_NE(made, nullptr);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }
  std::string Join(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

/// n x dims float32, row-major, clustered around `clusters` random centres
/// (more realistic than uniform noise), from a fixed seed.
inline std::vector<float> ClusteredVectors(std::size_t n, std::size_t dims, std::uint32_t seed,
                                           std::size_t clusters = 16) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> centres(clusters * dims);
  for (float& c : centres) c = normal(rng) * 3.0f;
  std::vector<float> out(n * dims);
  for (std::size_t i = 0; i < n; ++i) {
    const float* centre = centres.data() + (i % clusters) * dims;
    for (std::size_t d = 0; d < dims; ++d) out[i * dims + d] = centre[d] + normal(rng);
  }
  return out;
}

/// n x dims float32 with a low intrinsic dimension, like real embeddings: each
/// row is a random mix of `latent` fixed directions plus a little noise.
inline std::vector<float> LowRankVectors(std::size_t n, std::size_t dims, std::uint32_t seed,
                                         std::size_t latent = 8) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::mt19937 basis_rng(1234);  // the same directions for base and queries
  std::vector<float> basis(latent * dims);
  for (float& b : basis) b = normal(basis_rng);
  std::vector<float> out(n * dims);
  std::vector<float> mix(latent);
  for (std::size_t i = 0; i < n; ++i) {
    for (float& m : mix) m = normal(rng);
    for (std::size_t d = 0; d < dims; ++d) {
      float v = 0.05f * normal(rng);
      for (std::size_t l = 0; l < latent; ++l) v += mix[l] * basis[l * dims + d];
      out[i * dims + d] = v;
    }
  }
  return out;
}

/// Distance as Quiver defines it (lower is closer), computed in double.
inline double ExactDistance(Metric metric, const float* a, const float* b, std::size_t dims) {
  double dot = 0, aa = 0, bb = 0, l2 = 0;
  for (std::size_t d = 0; d < dims; ++d) {
    dot += double(a[d]) * b[d];
    aa += double(a[d]) * a[d];
    bb += double(b[d]) * b[d];
    l2 += (double(a[d]) - b[d]) * (double(a[d]) - b[d]);
  }
  switch (metric) {
    case Metric::kL2sq:
      return l2;
    case Metric::kIp:
      return 1.0 - dot;
    case Metric::kCos:
      return (aa == 0 || bb == 0) ? 1.0 : 1.0 - dot / std::sqrt(aa * bb);
  }
  return 0;
}

/// Exact top-k row numbers of `base` (n x dims) for one query: the oracle.
inline std::vector<Key> BruteForceTopK(Metric metric, const std::vector<float>& base,
                                       std::size_t dims, const float* query, std::size_t k) {
  const std::size_t n = base.size() / dims;
  std::vector<std::pair<double, Key>> scored(n);
  for (std::size_t i = 0; i < n; ++i) {
    scored[i] = {ExactDistance(metric, query, base.data() + i * dims, dims), i};
  }
  std::partial_sort(scored.begin(), scored.begin() + std::min(k, n), scored.end());
  std::vector<Key> top;
  for (std::size_t i = 0; i < std::min(k, n); ++i) top.push_back(scored[i].second);
  return top;
}

/// Records with keys first_key.., embeddings taken from rows of `vectors`.
inline std::vector<Record> MakeRecords(const std::vector<float>& vectors, std::size_t dims,
                                       Key first_key = 0) {
  const std::size_t n = vectors.size() / dims;
  std::vector<Record> records(n);
  for (std::size_t i = 0; i < n; ++i) {
    records[i].key = first_key + i;
    records[i].text = "record " + std::to_string(first_key + i);
    records[i].metadata = "{\"row\": " + std::to_string(i) + "}";
    records[i].embedding.assign(vectors.begin() + i * dims, vectors.begin() + (i + 1) * dims);
  }
  return records;
}

/// GoogleTest name of a test parameterized by a crash point: "checkpoint.after_sync"
/// becomes "checkpoint_after_sync".
struct CrashPointName {
  template <typename ParamInfo>
  std::string operator()(const ParamInfo& info) const {
    std::string name = info.param;
    for (char& ch : name) {
      if (ch == '.') ch = '_';
    }
    return name;
  }
};

/// StoreOptions for tests: quiet logs.
inline StoreOptions QuietOptions() {
  StoreOptions o;
  o.logger = [](LogLevel, std::string_view) {};
  return o;
}

}  // namespace quiver::testing

#endif  // QUIVER_TESTS_COMMON_TEST_UTIL_H_
