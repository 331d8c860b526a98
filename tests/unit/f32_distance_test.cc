// Copyright (c) Quiver authors.
//
// Quiver's float32 distance kernels (src/index/f32_distance.h) against a
// float64 reference, and the index using them: exact search must rank as the
// reference does, before and after a checkpoint round trip.

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "common/test_util.h"
#include "index/f32_distance.h"
#include "index/hnsw_index.h"
#include "quiver/quiver.h"

namespace quiver {
namespace {

using ::quiver::testing::TempDir;

struct Reference {
  double l2sq = 0, dot = 0, aa = 0, bb = 0;
  double abs_terms_l2sq = 0, abs_terms_dot = 0;  // sums of |terms|: the error scale
};

Reference Compute(const std::vector<float>& a, const std::vector<float>& b) {
  Reference r;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double x = a[i], y = b[i];
    r.l2sq += (x - y) * (x - y);
    r.dot += x * y;
    r.aa += x * x;
    r.bb += y * y;
    r.abs_terms_dot += std::abs(x * y);
  }
  r.abs_terms_l2sq = r.l2sq;
  return r;
}

std::size_t Address(const std::vector<float>& v) { return reinterpret_cast<std::size_t>(v.data()); }

std::vector<float> RandomVector(std::mt19937& rng, std::size_t dims, float scale) {
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(dims);
  for (auto& x : v) x = normal(rng);
  return v;
}

class F32DistanceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kernels_ = index::AvailableF32Kernels();
    if (kernels_.empty()) GTEST_SKIP() << "this CPU has neither AVX-512F nor AVX2+FMA";
  }
  std::vector<index::F32Kernels> kernels_;
};

// Every length from 1 to 200 exercises each main loop, remainder loop and tail
// mask; 784 and 1536 are common embedding sizes. Vectors are read from
// unaligned addresses (offset by one float) as USearch may pass them.
TEST_F(F32DistanceTest, MatchesFloat64ReferenceAtEveryLength) {
  std::mt19937 rng(7);
  std::vector<std::size_t> lengths(200);
  std::iota(lengths.begin(), lengths.end(), 1);
  lengths.insert(lengths.end(), {784, 1536});
  for (const auto& kernels : kernels_) {
    for (std::size_t dims : lengths) {
      std::vector<float> a = RandomVector(rng, dims + 1, 3.0f);
      std::vector<float> b = RandomVector(rng, dims + 1, 3.0f);
      a.erase(a.begin());  // different allocation offsets than b's
      const std::size_t pa = Address(a), pb = Address(b) + sizeof(float);
      std::vector<float> b_shifted(b.begin() + 1, b.end());
      const Reference r = Compute(a, b_shifted);
      // ~n/4 * 2^-24 relative to the sum of |terms|, with a margin of 16x.
      const double tolerance = 1e-6 * (1.0 + static_cast<double>(dims) / 16.0);
      SCOPED_TRACE(std::string(kernels.isa) + " dims=" + std::to_string(dims));
      EXPECT_NEAR(kernels.l2sq(pa, pb, dims), r.l2sq, tolerance * r.abs_terms_l2sq);
      EXPECT_NEAR(kernels.ip(pa, pb, dims), 1.0 - r.dot, tolerance * (1.0 + r.abs_terms_dot));
      const double cos = 1.0 - r.dot / std::sqrt(r.aa * r.bb);
      EXPECT_NEAR(kernels.cos(pa, pb, dims), std::max(0.0, cos),
                  tolerance * r.abs_terms_dot / std::sqrt(r.aa * r.bb) + 1e-6);
    }
  }
}

TEST_F(F32DistanceTest, FollowsUsearchConventionsAtTheEdges) {
  for (const auto& kernels : kernels_) {
    SCOPED_TRACE(kernels.isa);
    for (std::size_t dims : {1, 15, 16, 17, 784}) {
      std::vector<float> zero(dims, 0.0f), x(dims), y(dims);
      for (std::size_t i = 0; i < dims; ++i) {
        x[i] = static_cast<float>(i % 7) - 3.0f + 0.25f;
        y[i] = -x[i];
      }
      // Identical vectors are at distance exactly 0 (l2sq) and 0 (cos).
      EXPECT_EQ(kernels.l2sq(Address(x), Address(x), dims), 0.0f);
      EXPECT_NEAR(kernels.cos(Address(x), Address(x), dims), 0.0f, 1e-6);
      // Opposite vectors: cos distance 2.
      EXPECT_NEAR(kernels.cos(Address(x), Address(y), dims), 2.0f, 1e-6);
      // Zero vectors: both zero = 0, one zero = 1 (as NumKong's angular kernels).
      EXPECT_EQ(kernels.cos(Address(zero), Address(zero), dims), 0.0f);
      EXPECT_EQ(kernels.cos(Address(zero), Address(x), dims), 1.0f);
      // ip distance is 1 - dot.
      EXPECT_EQ(kernels.ip(Address(zero), Address(x), dims), 1.0f);
    }
  }
}

// The index's exact search (which scores with the index's kernel) returns the
// float64 reference's top 10, for each metric, and keeps doing so after a
// checkpoint is written and loaded (the load must reinstall the kernel).
TEST_F(F32DistanceTest, IndexRanksAsTheReferenceBeforeAndAfterACheckpoint) {
  const std::size_t dims = 100, n = 500, k = 10;
  std::mt19937 rng(11);
  std::vector<float> base(n * dims);
  for (auto& x : base) x = std::normal_distribution<float>(0.0f, 1.0f)(rng);
  std::vector<Key> keys(n);
  std::iota(keys.begin(), keys.end(), 0);
  TempDir dir;
  for (Metric metric : {Metric::kL2sq, Metric::kIp, Metric::kCos}) {
    SCOPED_TRACE(MetricName(metric));
    CollectionConfig config;
    config.dimensions = dims;
    config.metric = metric;
    auto index = index::HnswIndex::Create(config, 1, 1);
    ASSERT_TRUE(index.ok()) << index.status().ToString();
    if (const index::F32Kernels* preferred = index::PreferredF32Kernels()) {
      EXPECT_EQ((*index)->simd_kernel(), preferred->isa);
    }
    ASSERT_TRUE((*index)->AddBatch(keys.data(), base.data(), n).ok());
    const std::string path = dir.Join(std::string(MetricName(metric)) + ".usearch");
    auto file = *Env::Default()->NewWritableFile(path);
    const index::CheckpointIdentity identity{1, 1, n};
    auto info = (*index)->SaveCheckpoint(file.get(), identity);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    ASSERT_TRUE(file->Close().ok());
    auto loaded = index::HnswIndex::LoadCheckpoint(Env::Default(), path, config, identity,
                                                   info->checksum, 1, 1);
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    EXPECT_EQ((*loaded)->simd_kernel(), (*index)->simd_kernel());

    for (int q = 0; q < 20; ++q) {
      const std::vector<float> query = RandomVector(rng, dims, 1.0f);
      std::vector<std::pair<double, Key>> expected;
      for (std::size_t row = 0; row < n; ++row) {
        const Reference r = Compute(
            query, std::vector<float>(base.begin() + row * dims, base.begin() + (row + 1) * dims));
        const double d = metric == Metric::kL2sq ? r.l2sq
                         : metric == Metric::kIp ? 1.0 - r.dot
                                                 : 1.0 - r.dot / std::sqrt(r.aa * r.bb);
        expected.emplace_back(d, keys[row]);
      }
      std::sort(expected.begin(), expected.end());
      for (const auto* idx : {index->get(), loaded->get()}) {
        std::vector<Match> matches;
        ASSERT_TRUE(idx->SearchExact(query.data(), k, &matches).ok());
        ASSERT_EQ(matches.size(), k);
        for (std::size_t i = 0; i < k; ++i) {
          // Ties within float32 rounding could swap places; random normal
          // data has none at this size, so the order must match exactly.
          EXPECT_EQ(matches[i].key, expected[i].second) << "query " << q << " rank " << i;
          EXPECT_NEAR(matches[i].distance, expected[i].first,
                      1e-4 * (1.0 + std::abs(expected[i].first)));
        }
      }
    }
  }
}

}  // namespace
}  // namespace quiver
