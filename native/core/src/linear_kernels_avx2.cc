// Compiled with -mavx2 -mfma -mf16c (see CMakeLists.txt) and only called after a CPUID check, so the
// rest of the library, and the prebuilt binary, stay runnable on any x86-64.
#include <immintrin.h>

#include "linear_kernels.h"

namespace hrseg::kernels {

void micro_avx2(const float* a, int64_t lda, const float* b, int64_t kc, float* c, int64_t ldc, int rows, int cols,
                bool accumulate) {
  // Rows past `rows` repeat the last real row: they are computed and dropped, never read out of bounds.
  const float* a0 = a;
  const float* a1 = a + (rows > 1 ? 1 : 0) * lda;
  const float* a2 = a + (rows > 2 ? 2 : rows - 1) * lda;
  const float* a3 = a + (rows > 3 ? 3 : rows - 1) * lda;
  const float* a4 = a + (rows > 4 ? 4 : rows - 1) * lda;
  const float* a5 = a + (rows > 5 ? 5 : rows - 1) * lda;
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
  __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
  __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
  __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (int64_t k = 0; k < kc; ++k) {
    const __m256 b0 = _mm256_loadu_ps(b);
    const __m256 b1 = _mm256_loadu_ps(b + 8);
    __m256 av;
    av = _mm256_broadcast_ss(a0 + k);
    c00 = _mm256_fmadd_ps(av, b0, c00);
    c01 = _mm256_fmadd_ps(av, b1, c01);
    av = _mm256_broadcast_ss(a1 + k);
    c10 = _mm256_fmadd_ps(av, b0, c10);
    c11 = _mm256_fmadd_ps(av, b1, c11);
    av = _mm256_broadcast_ss(a2 + k);
    c20 = _mm256_fmadd_ps(av, b0, c20);
    c21 = _mm256_fmadd_ps(av, b1, c21);
    av = _mm256_broadcast_ss(a3 + k);
    c30 = _mm256_fmadd_ps(av, b0, c30);
    c31 = _mm256_fmadd_ps(av, b1, c31);
    av = _mm256_broadcast_ss(a4 + k);
    c40 = _mm256_fmadd_ps(av, b0, c40);
    c41 = _mm256_fmadd_ps(av, b1, c41);
    av = _mm256_broadcast_ss(a5 + k);
    c50 = _mm256_fmadd_ps(av, b0, c50);
    c51 = _mm256_fmadd_ps(av, b1, c51);
    b += kNR;
  }
  alignas(32) float tile[kMR][kNR];
  _mm256_store_ps(tile[0], c00);
  _mm256_store_ps(tile[0] + 8, c01);
  _mm256_store_ps(tile[1], c10);
  _mm256_store_ps(tile[1] + 8, c11);
  _mm256_store_ps(tile[2], c20);
  _mm256_store_ps(tile[2] + 8, c21);
  _mm256_store_ps(tile[3], c30);
  _mm256_store_ps(tile[3] + 8, c31);
  _mm256_store_ps(tile[4], c40);
  _mm256_store_ps(tile[4] + 8, c41);
  _mm256_store_ps(tile[5], c50);
  _mm256_store_ps(tile[5] + 8, c51);
  if (rows == kMR && cols == kNR) {
    for (int i = 0; i < kMR; ++i) {
      float* ci = c + i * ldc;
      __m256 t0 = _mm256_load_ps(tile[i]), t1 = _mm256_load_ps(tile[i] + 8);
      if (accumulate) {
        t0 = _mm256_add_ps(t0, _mm256_loadu_ps(ci));
        t1 = _mm256_add_ps(t1, _mm256_loadu_ps(ci + 8));
      }
      _mm256_storeu_ps(ci, t0);
      _mm256_storeu_ps(ci + 8, t1);
    }
    return;
  }
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) c[i * ldc + j] = accumulate ? c[i * ldc + j] + tile[i][j] : tile[i][j];
}

void widen_f16_f16c(const uint16_t* src, int64_t n, float* dst) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))));
  for (; i < n; ++i) dst[i] = _cvtsh_ss(src[i]);
}

namespace {

// 16 bf16 values to two vectors of 8 floats: each is the top half of an f32.
inline void load_bf16(const uint16_t* b, __m256& lo, __m256& hi) {
  const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b));
  lo = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm256_castsi256_si128(v)), 16));
  hi = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm256_extracti128_si256(v, 1)), 16));
}

inline void load_f16(const uint16_t* b, __m256& lo, __m256& hi) {
  lo = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b)));
  hi = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 8)));
}

inline void load_f32(const float* b, __m256& lo, __m256& hi) {
  lo = _mm256_loadu_ps(b);
  hi = _mm256_loadu_ps(b + 8);
}

// Load(k, lo, hi) gives row k of the 16-column panel as two vectors of 8 floats.
template <typename Load>
void row_kernel(const float* a, Load load, int64_t kc, float* c, int cols, bool accumulate) {
  __m256 s[8];
  for (auto& v : s) v = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 4 <= kc; k += 4) {
    for (int u = 0; u < 4; ++u) {
      __m256 lo, hi;
      load(k + u, lo, hi);
      const __m256 av = _mm256_broadcast_ss(a + k + u);
      s[2 * u] = _mm256_fmadd_ps(av, lo, s[2 * u]);
      s[2 * u + 1] = _mm256_fmadd_ps(av, hi, s[2 * u + 1]);
    }
  }
  for (; k < kc; ++k) {
    __m256 lo, hi;
    load(k, lo, hi);
    const __m256 av = _mm256_broadcast_ss(a + k);
    s[0] = _mm256_fmadd_ps(av, lo, s[0]);
    s[1] = _mm256_fmadd_ps(av, hi, s[1]);
  }
  alignas(32) float out[16];
  _mm256_store_ps(out, _mm256_add_ps(_mm256_add_ps(s[0], s[2]), _mm256_add_ps(s[4], s[6])));
  _mm256_store_ps(out + 8, _mm256_add_ps(_mm256_add_ps(s[1], s[3]), _mm256_add_ps(s[5], s[7])));
  for (int j = 0; j < cols; ++j) c[j] = accumulate ? c[j] + out[j] : out[j];
}

}  // namespace

void row_avx2(const float* a, const float* b, int64_t kc, float* c, int cols, bool accumulate) {
  row_kernel(a, [b](int64_t k, __m256& lo, __m256& hi) { load_f32(b + k * 16, lo, hi); }, kc, c, cols, accumulate);
}

void row_half_avx2(const float* a, const uint16_t* b, bool bf16, int64_t kc, float* c, int cols, bool accumulate) {
  if (bf16)
    row_kernel(a, [b](int64_t k, __m256& lo, __m256& hi) { load_bf16(b + k * 16, lo, hi); }, kc, c, cols, accumulate);
  else
    row_kernel(a, [b](int64_t k, __m256& lo, __m256& hi) { load_f16(b + k * 16, lo, hi); }, kc, c, cols, accumulate);
}

// 12 independent FMA chains (enough to cover latency x throughput on current x86 cores).
double fma_loop_avx2(int64_t iterations) {
  // From 0 towards the fixed point 1, never from it (a compiler may prove a loop at its fixed point idle).
  __m256 m = _mm256_set1_ps(0.999f), add = _mm256_set1_ps(0.001f);
  __m256 r0 = _mm256_setzero_ps(), r1 = r0, r2 = r0, r3 = r0, r4 = r0, r5 = r0, r6 = r0, r7 = r0, r8 = r0, r9 = r0,
         r10 = r0, r11 = r0;
  for (int64_t i = 0; i < iterations; ++i) {
    r0 = _mm256_fmadd_ps(r0, m, add);
    r1 = _mm256_fmadd_ps(r1, m, add);
    r2 = _mm256_fmadd_ps(r2, m, add);
    r3 = _mm256_fmadd_ps(r3, m, add);
    r4 = _mm256_fmadd_ps(r4, m, add);
    r5 = _mm256_fmadd_ps(r5, m, add);
    r6 = _mm256_fmadd_ps(r6, m, add);
    r7 = _mm256_fmadd_ps(r7, m, add);
    r8 = _mm256_fmadd_ps(r8, m, add);
    r9 = _mm256_fmadd_ps(r9, m, add);
    r10 = _mm256_fmadd_ps(r10, m, add);
    r11 = _mm256_fmadd_ps(r11, m, add);
  }
  __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(r0, r1), _mm256_add_ps(r2, r3)),
                           _mm256_add_ps(_mm256_add_ps(r4, r5), _mm256_add_ps(r6, r7)));
  s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(r8, r9), _mm256_add_ps(r10, r11)));
  alignas(32) float out[8];
  _mm256_store_ps(out, s);
  return out[0] + out[7];
}

}  // namespace hrseg::kernels
