// Copyright (c) Quiver authors.
//
// Float32 distance kernels: USearch's NumKong kernel (what an f32 USearch index
// uses by default; it accumulates in float64) against Quiver's float32
// kernels (src/index/f32_distance.h), one call per distance through the same
// kind of function pointer USearch calls.
//
//   build/release/bench/quiver_bench_distance [--benchmark_filter=784]
//
// Two access patterns per kernel and dimension count:
//   hot   the same 96 vectors over and over (they stay in L1/L2): compute bound
//   cold  random pairs among 256 MiB of vectors: bound by memory, as an HNSW
//         search over a large collection mostly is
// Reported time is per distance; items/s = distances per second.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <usearch/index_plugins.hpp>

#include "index/f32_distance.h"

namespace {

namespace us = unum::usearch;

struct Data {
  std::size_t dims = 0, rows = 0;
  std::vector<float> values;
  std::vector<std::uint32_t> pairs;  // random row numbers, read two at a time
};

const Data& DataFor(std::size_t dims) {
  static std::map<std::size_t, Data> cache;  // node-based: references stay valid
  if (auto it = cache.find(dims); it != cache.end()) return it->second;
  Data d;
  d.dims = dims;
  d.rows = (std::size_t{256} << 20) / (dims * sizeof(float));
  d.values.resize(d.rows * dims);
  std::mt19937 rng(42);
  std::normal_distribution<float> normal;
  for (auto& x : d.values) x = normal(rng);
  d.pairs.resize(1 << 20);
  for (auto& p : d.pairs) p = static_cast<std::uint32_t>(rng() % d.rows);
  return cache.emplace(dims, std::move(d)).first->second;
}

template <typename Distance>
void Run(benchmark::State& state, std::size_t dims, Distance distance, bool cold) {
  const Data& data = DataFor(dims);
  const float* base = data.values.data();
  const std::size_t mask = data.pairs.size() - 1;
  std::size_t i = 0;
  float sink = 0;
  for (auto _ : state) {
    const std::size_t a = cold ? data.pairs[i & mask] : (i % 64);
    const std::size_t b = cold ? data.pairs[(i + 1) & mask] : 64 + (i % 32);
    sink += distance(base + a * dims, base + b * dims);
    ++i;
  }
  benchmark::DoNotOptimize(sink);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

/// Registers `name` timing `metric` (one call per distance, as USearch calls it).
void Register(const std::string& name, const us::metric_punned_t& metric, std::size_t dims,
              bool cold) {
  benchmark::RegisterBenchmark(name.c_str(), [metric, dims, cold](benchmark::State& state) {
    Run(
        state, dims,
        [&metric](const float* a, const float* b) {
          return metric(reinterpret_cast<const us::byte_t*>(a),
                        reinterpret_cast<const us::byte_t*>(b));
        },
        cold);
  });
}

}  // namespace

int main(int argc, char** argv) {
  for (const char* kind : {"l2sq", "ip"}) {
    const bool l2sq = std::string(kind) == "l2sq";
    const us::metric_kind_t metric_kind =
        l2sq ? us::metric_kind_t::l2sq_k : us::metric_kind_t::ip_k;
    for (bool cold : {false, true}) {
      for (std::size_t dims : {96, 384, 784, 1536}) {
        const std::string suffix =
            std::string("/") + kind + "/" + std::to_string(dims) + (cold ? "/cold" : "/hot");
        us::metric_punned_t numkong(dims, metric_kind, us::scalar_kind_t::f32_k);
        Register("numkong-" + std::string(numkong.isa_name()) + suffix, numkong, dims, cold);
        // Quiver's kernels wrapped exactly as the index wraps them (hnsw_index.cc MakeMetric).
        for (const auto& kernels : quiver::index::AvailableF32Kernels()) {
          const quiver::index::F32DistanceFn fn = l2sq ? kernels.l2sq : kernels.ip;
          Register("quiver-" + std::string(kernels.isa) + suffix,
                   us::metric_punned_t::stateless(dims, reinterpret_cast<std::uintptr_t>(fn),
                                                  us::metric_punned_signature_t::array_array_size_k,
                                                  metric_kind, us::scalar_kind_t::f32_k),
                   dims, cold);
        }
      }
    }
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
