// The aarch64 kernels behind linear(): Advanced SIMD (NEON) is part of every ARMv8-A core (Jetson
// Orin's Cortex-A78AE, Thor's Neoverse V3AE, Grace's Neoverse V2, Graviton), so unlike the AVX2
// kernels these need no run-time CPU check and no special compile flags. On other architectures
// this file compiles to nothing (native/core globs every source).
#if defined(__aarch64__)
#include <arm_neon.h>

#include "linear_kernels.h"

namespace hrseg::kernels {

void micro_neon(const float* a, int64_t lda, const float* b, int64_t kc, float* c, int64_t ldc, int rows, int cols,
                bool accumulate) {
  // Rows past `rows` repeat the last real row, as in micro_avx2: computed and dropped, never read
  // out of bounds. 6 rows x 4 vectors of 4 = 24 accumulators + 4 for the B row: 28 of the 32
  // vector registers, so the loop keeps everything in registers.
  const float* ar[kMR];
  for (int i = 0; i < kMR; ++i) ar[i] = a + (i < rows ? i : rows - 1) * lda;
  float32x4_t acc[kMR][4];
  for (auto& row : acc)
    for (auto& v : row) v = vdupq_n_f32(0.0f);
  for (int64_t k = 0; k < kc; ++k) {
    const float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8), b3 = vld1q_f32(b + 12);
    for (int i = 0; i < kMR; ++i) {
      const float av = ar[i][k];
      acc[i][0] = vfmaq_n_f32(acc[i][0], b0, av);
      acc[i][1] = vfmaq_n_f32(acc[i][1], b1, av);
      acc[i][2] = vfmaq_n_f32(acc[i][2], b2, av);
      acc[i][3] = vfmaq_n_f32(acc[i][3], b3, av);
    }
    b += kNR;
  }
  if (rows == kMR && cols == kNR) {
    for (int i = 0; i < kMR; ++i) {
      float* ci = c + i * ldc;
      for (int v = 0; v < 4; ++v) {
        float32x4_t t = acc[i][v];
        if (accumulate) t = vaddq_f32(t, vld1q_f32(ci + 4 * v));
        vst1q_f32(ci + 4 * v, t);
      }
    }
    return;
  }
  float tile[kMR][kNR];
  for (int i = 0; i < kMR; ++i)
    for (int v = 0; v < 4; ++v) vst1q_f32(tile[i] + 4 * v, acc[i][v]);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) c[i * ldc + j] = accumulate ? c[i * ldc + j] + tile[i][j] : tile[i][j];
}

void row_neon(const float* a, const float* b, int64_t kc, float* c, int cols, bool accumulate) {
  // One row is bound by reading B (see row_avx2): keep 4 k-interleaved sets of 4 vectors so the
  // FMAs of consecutive k do not wait on each other, and add the sets at the end.
  float32x4_t s[4][4];
  for (auto& set : s)
    for (auto& v : set) v = vdupq_n_f32(0.0f);
  int64_t k = 0;
  for (; k + 4 <= kc; k += 4) {
    for (int u = 0; u < 4; ++u) {
      const float* bk = b + (k + u) * kNR;
      const float av = a[k + u];
      for (int v = 0; v < 4; ++v) s[u][v] = vfmaq_n_f32(s[u][v], vld1q_f32(bk + 4 * v), av);
    }
  }
  for (; k < kc; ++k) {
    const float* bk = b + k * kNR;
    for (int v = 0; v < 4; ++v) s[0][v] = vfmaq_n_f32(s[0][v], vld1q_f32(bk + 4 * v), a[k]);
  }
  float out[kNR];
  for (int v = 0; v < 4; ++v)
    vst1q_f32(out + 4 * v, vaddq_f32(vaddq_f32(s[0][v], s[1][v]), vaddq_f32(s[2][v], s[3][v])));
  for (int j = 0; j < cols; ++j) c[j] = accumulate ? c[j] + out[j] : out[j];
}

// 12 independent FMA chains of 4 lanes: enough to cover FMA latency x throughput on the
// Neoverse and Cortex-A7x cores (4-cycle latency, 2 to 4 pipes).
double fma_loop_neon(int64_t iterations) {
  // From 0 towards the fixed point 1, never from it (a compiler may prove a loop at its fixed point idle).
  const float32x4_t m = vdupq_n_f32(0.999f), add = vdupq_n_f32(0.001f);
  float32x4_t r[12];
  for (auto& v : r) v = vdupq_n_f32(0.0f);
  for (int64_t i = 0; i < iterations; ++i)
    for (auto& v : r) v = vfmaq_f32(add, v, m);
  float32x4_t s = r[0];
  for (int i = 1; i < 12; ++i) s = vaddq_f32(s, r[i]);
  return static_cast<double>(vgetq_lane_f32(s, 0)) + vgetq_lane_f32(s, 3);
}

}  // namespace hrseg::kernels
#endif  // __aarch64__
