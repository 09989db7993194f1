// Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512bf16 -mavx512vnni (CMakeLists.txt)
// and only called after cpu_features() says so: the prebuilt binary stays runnable on AVX2-only
// x86-64. Sixteen chains cover a zmm FMA's latency (4 cycles) at two issues a cycle, with room.
#if defined(__x86_64__)
#include <immintrin.h>

#include "cpu_peaks_kernels.h"

namespace hrseg::kernels {

namespace {

// Runs `step` on 16 accumulators `iterations` times and folds them into one number.
template <typename Vec, typename Step, typename Fold>
double sixteen_chains(int64_t iterations, Vec init, Step step, Fold fold) {
  Vec r[16];
  for (auto& v : r) v = init;
  for (int64_t i = 0; i < iterations; ++i) {
    // Unrolled by the compiler: r stays in registers (32 zmm).
#pragma GCC unroll 16
    for (int j = 0; j < 16; ++j) r[j] = step(r[j]);
  }
  double s = 0;
  for (auto& v : r) s += fold(v);
  return s;
}

// GCC 12's _mm512_reduce_add_ps (and cvtepi32_ps) warn of an uninitialised register; a store does not.
double lane_sum(__m512 v) {
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, v);
  double s = 0;
  for (float x : lanes) s += x;
  return s;
}

}  // namespace

double fma_loop_avx512(int64_t iterations) {
  // From 0 towards the fixed point 1, never from it (a compiler may prove a loop at its fixed point idle).
  const __m512 m = _mm512_set1_ps(0.999f), add = _mm512_set1_ps(0.001f);
  return sixteen_chains(
      iterations, _mm512_setzero_ps(), [&](__m512 v) { return _mm512_fmadd_ps(v, m, add); },
      [](__m512 v) { return lane_sum(v); });
}

double bf16_loop_avx512(int64_t iterations) {
  // 32 bf16 values of 1/1024 each side: every step adds 2 · 2⁻²⁰ to each lane, far from overflow.
  const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1.0f / 1024), _mm512_set1_ps(1.0f / 1024));
  return sixteen_chains(
      iterations, _mm512_setzero_ps(), [&](__m512 v) { return _mm512_dpbf16_ps(v, a, a); },
      [](__m512 v) { return lane_sum(v); });
}

double int8_loop_avx512(int64_t iterations) {
  // 1 · 1 four times a lane per step: int32 sums stay exact for 2³¹ / 4 steps.
  const __m512i a = _mm512_set1_epi8(1);
  return sixteen_chains(
      iterations, _mm512_setzero_si512(), [&](__m512i v) { return _mm512_dpbusd_epi32(v, a, a); },
      [](__m512i v) {
        alignas(64) int32_t lanes[16];
        _mm512_store_si512(lanes, v);
        double s = 0;
        for (int32_t x : lanes) s += x;
        return s;
      });
}

}  // namespace hrseg::kernels

#endif  // __x86_64__
