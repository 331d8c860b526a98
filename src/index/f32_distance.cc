// Copyright (c) Quiver authors.

#include "index/f32_distance.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <cmath>
#include <cstdlib>
#include <string_view>

namespace quiver::index {
namespace {

#if defined(__x86_64__)

const float* AsFloats(std::size_t address) { return reinterpret_cast<const float*>(address); }

/// USearch's cosine distance from a dot product and two squared norms
/// (computed in double: a2 * b2 can overflow float for large vectors).
float CosFromSums(float ab, float a2, float b2) {
  if (a2 == 0 && b2 == 0) return 0;
  if (ab == 0) return 1;
  const double distance =
      1.0 - static_cast<double>(ab) / std::sqrt(static_cast<double>(a2) * static_cast<double>(b2));
  return distance > 0 ? static_cast<float>(distance) : 0.0f;
}

// ---------------------------------------------------------------------------
// AVX-512F: 16 lanes, four independent accumulators (64 elements per step) so
// that consecutive FMAs do not wait on each other's latency; the tail uses a
// masked load (zeros beyond the end add nothing).

/// Sum of the 16 lanes, through memory: GCC 12's unmasked AVX-512 shuffles and
/// _mm512_reduce_add_ps use _mm512_undefined_ps(), which trips -Wuninitialized
/// inside the compiler's own header. Once per distance, so the cost is noise.
__attribute__((target("avx512f"))) float HorizontalSum(__m512 v) {
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, v);
  float pairs[8];
  for (int i = 0; i < 8; ++i) pairs[i] = lanes[i] + lanes[i + 8];
  return ((pairs[0] + pairs[4]) + (pairs[1] + pairs[5])) +
         ((pairs[2] + pairs[6]) + (pairs[3] + pairs[7]));
}

__attribute__((target("avx512f"))) __mmask16 TailMask(std::size_t left) {
  return static_cast<__mmask16>((1u << left) - 1u);
}

__attribute__((target("avx512f"))) float L2sqAvx512(std::size_t a_address, std::size_t b_address,
                                                    std::size_t n) {
  const float* a = AsFloats(a_address);
  const float* b = AsFloats(b_address);
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  __m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
  std::size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    const __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    const __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
    const __m512 d2 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32));
    const __m512 d3 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48));
    s0 = _mm512_fmadd_ps(d0, d0, s0);
    s1 = _mm512_fmadd_ps(d1, d1, s1);
    s2 = _mm512_fmadd_ps(d2, d2, s2);
    s3 = _mm512_fmadd_ps(d3, d3, s3);
  }
  for (; i + 16 <= n; i += 16) {
    const __m512 d = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    s0 = _mm512_fmadd_ps(d, d, s0);
  }
  if (i < n) {
    const __mmask16 mask = TailMask(n - i);
    const __m512 d =
        _mm512_sub_ps(_mm512_maskz_loadu_ps(mask, a + i), _mm512_maskz_loadu_ps(mask, b + i));
    s1 = _mm512_fmadd_ps(d, d, s1);
  }
  return HorizontalSum(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

__attribute__((target("avx512f"))) float DotAvx512(const float* a, const float* b, std::size_t n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  __m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
  std::size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
    s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
  }
  for (; i + 16 <= n; i += 16) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
  }
  if (i < n) {
    const __mmask16 mask = TailMask(n - i);
    s1 =
        _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, a + i), _mm512_maskz_loadu_ps(mask, b + i), s1);
  }
  return HorizontalSum(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

__attribute__((target("avx512f"))) float IpAvx512(std::size_t a, std::size_t b, std::size_t n) {
  return 1.0f - DotAvx512(AsFloats(a), AsFloats(b), n);
}

__attribute__((target("avx512f"))) float CosAvx512(std::size_t a_address, std::size_t b_address,
                                                   std::size_t n) {
  const float* a = AsFloats(a_address);
  const float* b = AsFloats(b_address);
  __m512 ab0 = _mm512_setzero_ps(), ab1 = _mm512_setzero_ps();
  __m512 aa0 = _mm512_setzero_ps(), aa1 = _mm512_setzero_ps();
  __m512 bb0 = _mm512_setzero_ps(), bb1 = _mm512_setzero_ps();
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m512 x0 = _mm512_loadu_ps(a + i), y0 = _mm512_loadu_ps(b + i);
    const __m512 x1 = _mm512_loadu_ps(a + i + 16), y1 = _mm512_loadu_ps(b + i + 16);
    ab0 = _mm512_fmadd_ps(x0, y0, ab0);
    aa0 = _mm512_fmadd_ps(x0, x0, aa0);
    bb0 = _mm512_fmadd_ps(y0, y0, bb0);
    ab1 = _mm512_fmadd_ps(x1, y1, ab1);
    aa1 = _mm512_fmadd_ps(x1, x1, aa1);
    bb1 = _mm512_fmadd_ps(y1, y1, bb1);
  }
  for (; i < n; i += 16) {
    const __mmask16 mask = n - i >= 16 ? static_cast<__mmask16>(0xFFFF) : TailMask(n - i);
    const __m512 x = _mm512_maskz_loadu_ps(mask, a + i), y = _mm512_maskz_loadu_ps(mask, b + i);
    ab0 = _mm512_fmadd_ps(x, y, ab0);
    aa0 = _mm512_fmadd_ps(x, x, aa0);
    bb0 = _mm512_fmadd_ps(y, y, bb0);
  }
  return CosFromSums(HorizontalSum(_mm512_add_ps(ab0, ab1)), HorizontalSum(_mm512_add_ps(aa0, aa1)),
                     HorizontalSum(_mm512_add_ps(bb0, bb1)));
}

// ---------------------------------------------------------------------------
// AVX2 + FMA: 8 lanes, four accumulators (32 elements per step), scalar tail.

__attribute__((target("avx2,fma"))) float HorizontalSum(__m256 v) {
  const __m128 sum4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 sum2 = _mm_add_ps(sum4, _mm_movehl_ps(sum4, sum4));
  return _mm_cvtss_f32(_mm_add_ss(sum2, _mm_movehdup_ps(sum2)));
}

__attribute__((target("avx2,fma"))) float L2sqAvx2(std::size_t a_address, std::size_t b_address,
                                                   std::size_t n) {
  const float* a = AsFloats(a_address);
  const float* b = AsFloats(b_address);
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    const __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
    const __m256 d2 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16));
    const __m256 d3 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24));
    s0 = _mm256_fmadd_ps(d0, d0, s0);
    s1 = _mm256_fmadd_ps(d1, d1, s1);
    s2 = _mm256_fmadd_ps(d2, d2, s2);
    s3 = _mm256_fmadd_ps(d3, d3, s3);
  }
  for (; i + 8 <= n; i += 8) {
    const __m256 d = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    s0 = _mm256_fmadd_ps(d, d, s0);
  }
  float sum = HorizontalSum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  for (; i < n; ++i) {
    const float d = a[i] - b[i];
    sum += d * d;
  }
  return sum;
}

__attribute__((target("avx2,fma"))) float DotAvx2(const float* a, const float* b, std::size_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
  }
  for (; i + 8 <= n; i += 8) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  }
  float sum = HorizontalSum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

__attribute__((target("avx2,fma"))) float IpAvx2(std::size_t a, std::size_t b, std::size_t n) {
  return 1.0f - DotAvx2(AsFloats(a), AsFloats(b), n);
}

__attribute__((target("avx2,fma"))) float CosAvx2(std::size_t a_address, std::size_t b_address,
                                                  std::size_t n) {
  const float* a = AsFloats(a_address);
  const float* b = AsFloats(b_address);
  __m256 ab0 = _mm256_setzero_ps(), ab1 = _mm256_setzero_ps();
  __m256 aa0 = _mm256_setzero_ps(), aa1 = _mm256_setzero_ps();
  __m256 bb0 = _mm256_setzero_ps(), bb1 = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256 x0 = _mm256_loadu_ps(a + i), y0 = _mm256_loadu_ps(b + i);
    const __m256 x1 = _mm256_loadu_ps(a + i + 8), y1 = _mm256_loadu_ps(b + i + 8);
    ab0 = _mm256_fmadd_ps(x0, y0, ab0);
    aa0 = _mm256_fmadd_ps(x0, x0, aa0);
    bb0 = _mm256_fmadd_ps(y0, y0, bb0);
    ab1 = _mm256_fmadd_ps(x1, y1, ab1);
    aa1 = _mm256_fmadd_ps(x1, x1, aa1);
    bb1 = _mm256_fmadd_ps(y1, y1, bb1);
  }
  float ab = HorizontalSum(_mm256_add_ps(ab0, ab1));
  float aa = HorizontalSum(_mm256_add_ps(aa0, aa1));
  float bb = HorizontalSum(_mm256_add_ps(bb0, bb1));
  for (; i < n; ++i) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return CosFromSums(ab, aa, bb);
}

constexpr F32Kernels kAvx512 = {"avx512", &L2sqAvx512, &IpAvx512, &CosAvx512};
constexpr F32Kernels kAvx2 = {"avx2", &L2sqAvx2, &IpAvx2, &CosAvx2};

bool HasAvx512() { return __builtin_cpu_supports("avx512f"); }
bool HasAvx2() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }

#else  // not x86-64: no kernels of our own; f32 collections use NumKong's.

constexpr F32Kernels kAvx512 = {};
constexpr F32Kernels kAvx2 = {};
bool HasAvx512() { return false; }
bool HasAvx2() { return false; }

#endif

/// Any other value of QUIVER_F32_KERNEL (or none) means "auto"; the choice is
/// visible in the collection's stats (simd_kernel).
const F32Kernels* Choose() {
  const char* requested = std::getenv("QUIVER_F32_KERNEL");
  const std::string_view want = requested ? requested : "";
  if (want == "numkong") return nullptr;
  if (want == "avx2" && HasAvx2()) return &kAvx2;
  if (HasAvx512()) return &kAvx512;
  if (HasAvx2()) return &kAvx2;
  return nullptr;
}

}  // namespace

std::vector<F32Kernels> AvailableF32Kernels() {
  std::vector<F32Kernels> kernels;
  if (HasAvx512()) kernels.push_back(kAvx512);
  if (HasAvx2()) kernels.push_back(kAvx2);
  return kernels;
}

const F32Kernels* PreferredF32Kernels() {
  static const F32Kernels* const chosen = Choose();
  return chosen;
}

}  // namespace quiver::index
