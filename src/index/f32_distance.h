// Copyright (c) Quiver authors.
//
// Float32 distance kernels for the HNSW index, accumulated in float32.
//
// Why Quiver has its own: USearch 2.26 computes f32 distances with NumKong,
// whose f32 kernels widen every element to float64 and keep one float64
// accumulator (8 lanes per AVX-512 instruction, one dependent FMA chain). For
// a 784-d squared L2 that is ~94 ns per distance on this project's machine,
// against ~33 ns for a float32 kernel with four independent accumulators
// (bench: quiver_bench_distance). HNSW search and insertion spend most of
// their time in distances (89% of a Fashion-MNIST search under callgrind), so
// the kernel sets the speed of f32 collections; hnswlib, whose AVX-512 kernel
// accumulates in float32, searched ~1.9x faster than USearch at the same
// recall before this change (docs/benchmarks.md).
//
// Precision: float32 accumulation of n products has a relative error bound of
// about n * 2^-24 of the sum of |terms| (Higham, "Accuracy and Stability of
// Numerical Algorithms", 2nd ed., section 3.1); four partial sums make it
// ~n/4 * 2^-24 in practice. That is far below the gap between neighbours that
// ranking needs; distances returned to users differ from a float64 computation
// in the last few bits, not in order.
//
// Kernels are chosen once, at run time, from the CPU (x86-64 with AVX-512F,
// else AVX2+FMA). With neither, on another architecture, or when
// QUIVER_F32_KERNEL=numkong is set in the environment, the index keeps
// USearch's NumKong kernels. QUIVER_F32_KERNEL=avx2 picks the AVX2 kernels on
// an AVX-512 CPU; any other value means the default. The variable exists for
// A/B measurements and is read once per process.
//
// Only the index module includes this header.

#ifndef QUIVER_INDEX_F32_DISTANCE_H_
#define QUIVER_INDEX_F32_DISTANCE_H_

#include <cstddef>
#include <vector>

namespace quiver::index {

/// A distance between two float32 vectors of `dims` elements at the addresses
/// `a` and `b` (passed as integers: this is the signature of USearch's
/// stateless metrics, metric_punned_signature_t::array_array_size_k). The
/// vectors need no alignment. Reentrant; no allocation.
using F32DistanceFn = float (*)(std::size_t a, std::size_t b, std::size_t dims);

/// One instruction set's kernels. Distances follow USearch's conventions, so
/// that an index built with either set ranks and reports alike:
///   l2sq = sum (a_i - b_i)^2                      (>= 0; 0 = identical)
///   ip   = 1 - sum a_i * b_i                      (smaller = more similar)
///   cos  = 1 - ab / (|a| |b|), clamped at >= 0;   0 when both are zero
///          vectors, 1 when exactly one is (or ab == 0)
struct F32Kernels {
  const char* isa = "";  // "avx512" or "avx2"; shown as the index's simd_kernel
  F32DistanceFn l2sq = nullptr;
  F32DistanceFn ip = nullptr;
  F32DistanceFn cos = nullptr;
};

/// Every kernel set this CPU can run, fastest first (empty if none). For tests
/// and benchmarks; the index uses PreferredF32Kernels().
std::vector<F32Kernels> AvailableF32Kernels();

/// The set the index uses for f32 collections, or nullptr to keep USearch's
/// NumKong kernels (no AVX2+FMA, or QUIVER_F32_KERNEL=numkong). Decided on the
/// first call; thread-safe.
const F32Kernels* PreferredF32Kernels();

}  // namespace quiver::index

#endif  // QUIVER_INDEX_F32_DISTANCE_H_
