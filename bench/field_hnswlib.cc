// Copyright (c) Quiver authors.
//
// quiver_bench_field's hnswlib system (Debian's libhnswlib-dev, header-only).
//
// hnswlib picks its distance kernel (SSE, AVX, AVX-512) from the compiler's
// target flags, then at run time among those compiled in. This file alone is
// compiled with -march=native by default (CMake option
// QUIVER_BENCH_HNSWLIB_NATIVE), so that hnswlib uses the same AVX-512 class of
// kernel NumKong dispatches to at run time for Quiver and USearch; with the
// option OFF it gets the x86-64 baseline (SSE).

#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "field_systems.h"

namespace quiver::bench {
namespace {

/// Which of hnswlib's float L2 kernels this translation unit can use.
const char* CompiledKernel() {
#if defined(USE_AVX512)
  return "avx512";
#elif defined(USE_AVX)
  return "avx";
#elif defined(USE_SSE)
  return "sse";
#else
  return "scalar";
#endif
}

/// hnswlib::HierarchicalNSW<float> with L2Space (squared L2), M and
/// ef_construction from FieldParams, random_seed 100 (hnswlib's default).
class HnswlibSystem : public AnnSystem {
 public:
  explicit HnswlibSystem(const FieldParams& params) : params_(params), space_(params.dims) {}

  void Build(const Matrix& base, const std::string& dir) override {
    path_ = dir + "/index.hnswlib";
    index_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(
        &space_, base.rows, params_.connectivity, params_.expansion_add, /*random_seed=*/100);
    const std::size_t threads = params_.insert_threads;
    std::vector<std::thread> pool;
    std::vector<std::string> errors(threads);
    for (std::size_t t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        try {
          for (std::size_t i = t; i < base.rows; i += threads) index_->addPoint(base.Row(i), i);
        } catch (const std::exception& e) {
          errors[t] = e.what();
        }
      });
    }
    for (auto& thread : pool) thread.join();
    for (const auto& e : errors) {
      if (!e.empty()) throw std::runtime_error("hnswlib addPoint: " + e);
    }
  }

  void Save() override {
    index_->saveIndex(path_);
    index_.reset();
  }

  void Load(const std::string& dir) override {
    path_ = dir + "/index.hnswlib";
    try {
      index_ = std::make_unique<hnswlib::HierarchicalNSW<float>>(&space_, path_);
    } catch (const std::exception& e) {
      throw std::runtime_error("hnswlib load " + path_ + ": " + e.what());
    }
  }

  void SetExpansionSearch(std::size_t ef) override { index_->setEf(ef); }

  void Search(const float* query, std::size_t k, std::size_t, std::uint64_t* keys) override {
    auto result = index_->searchKnn(query, k);  // a max-heap: farthest on top
    std::fill(keys, keys + k, kNoKey);
    for (std::size_t i = result.size(); i > 0; --i) {
      if (i <= k) keys[i - 1] = result.top().second;
      result.pop();
    }
  }

  nlohmann::json Describe() const override {
    return {{"simd_kernel", CompiledKernel()},
            {"level0_bytes", index_ ? index_->max_elements_ * index_->size_data_per_element_ : 0}};
  }
  std::size_t dims() const override { return params_.dims; }

 private:
  FieldParams params_;
  hnswlib::L2Space space_;
  std::string path_;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> index_;
};

}  // namespace

std::unique_ptr<AnnSystem> MakeHnswlibSystem(const FieldParams& params) {
  return std::make_unique<HnswlibSystem>(params);
}

nlohmann::json HnswlibInfo() {
  return {{"hnswlib_kernel", CompiledKernel()},
#ifdef QUIVER_BENCH_HNSWLIB_NATIVE
          {"hnswlib_flags", "-march=native"}
#else
          {"hnswlib_flags", "baseline x86-64"}
#endif
  };
}

}  // namespace quiver::bench
