// Compiled for AVX-512 (CMakeLists.txt) and only called after cpu_features().avx512: the prebuilt
// binary stays runnable on AVX2-only x86-64. The same arithmetic as linear_kernels_avx2.cc in the
// same order, one zmm where it has two ymm: every product and sum of an output happens as there,
// so the two give identical results (test_linear checks both against the float64 reference, and
// runs once capped at AVX2).
#if defined(__x86_64__)
// GCC 12's AVX-512 headers build some intrinsics on _mm512_undefined_*() and then warn that it
// may be used uninitialised (a known false positive); nothing here reads an undefined lane.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include "linear_kernels.h"

namespace hrseg::kernels {

void micro_avx512(const float* a, int64_t lda, const float* b, int64_t kc, float* c, int64_t ldc, int rows, int cols,
                  bool accumulate) {
  // Rows past `rows` repeat the last real row: they are computed and dropped, never read out of bounds.
  const float* ar[kMR];
  for (int i = 0; i < kMR; ++i) ar[i] = a + (i < rows ? i : rows - 1) * lda;
  __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 bk = _mm512_loadu_ps(b);
    c0 = _mm512_fmadd_ps(_mm512_set1_ps(ar[0][k]), bk, c0);
    c1 = _mm512_fmadd_ps(_mm512_set1_ps(ar[1][k]), bk, c1);
    c2 = _mm512_fmadd_ps(_mm512_set1_ps(ar[2][k]), bk, c2);
    c3 = _mm512_fmadd_ps(_mm512_set1_ps(ar[3][k]), bk, c3);
    c4 = _mm512_fmadd_ps(_mm512_set1_ps(ar[4][k]), bk, c4);
    c5 = _mm512_fmadd_ps(_mm512_set1_ps(ar[5][k]), bk, c5);
    b += kNR;
  }
  const __m512 acc[kMR] = {c0, c1, c2, c3, c4, c5};
  // A mask of the first `cols` lanes: partial tiles are stored in place, never past the row.
  const __mmask16 m = static_cast<__mmask16>((1u << cols) - 1);
  for (int i = 0; i < rows; ++i) {
    float* ci = c + i * ldc;
    __m512 t = acc[i];
    if (accumulate) t = _mm512_add_ps(t, _mm512_maskz_loadu_ps(m, ci));
    _mm512_mask_storeu_ps(ci, m, t);
  }
}

namespace {

// Load(k) gives row k of the 16-column panel as one vector of 16 floats.
template <typename Load>
void row_kernel(const float* a, Load load, int64_t kc, float* c, int cols, bool accumulate) {
  // Four sums (k mod 4) added at the end as ((s0 + s1) + (s2 + s3)): row_avx2's order exactly.
  __m512 s[4];
  for (auto& v : s) v = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 4 <= kc; k += 4)
    for (int u = 0; u < 4; ++u) s[u] = _mm512_fmadd_ps(_mm512_set1_ps(a[k + u]), load(k + u), s[u]);
  for (; k < kc; ++k) s[0] = _mm512_fmadd_ps(_mm512_set1_ps(a[k]), load(k), s[0]);
  const __m512 out = _mm512_add_ps(_mm512_add_ps(s[0], s[1]), _mm512_add_ps(s[2], s[3]));
  const __mmask16 m = static_cast<__mmask16>((1u << cols) - 1);
  _mm512_mask_storeu_ps(c, m, accumulate ? _mm512_add_ps(out, _mm512_maskz_loadu_ps(m, c)) : out);
}

}  // namespace

void row_avx512(const float* a, const float* b, int64_t kc, float* c, int cols, bool accumulate) {
  row_kernel(a, [b](int64_t k) { return _mm512_loadu_ps(b + k * 16); }, kc, c, cols, accumulate);
}

void row_half_avx512(const float* a, const uint16_t* b, bool bf16, int64_t kc, float* c, int cols, bool accumulate) {
  if (bf16)
    row_kernel(
        a,
        [b](int64_t k) {
          const __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + k * 16));
          return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16));
        },
        kc, c, cols, accumulate);
  else
    row_kernel(
        a, [b](int64_t k) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + k * 16))); },
        kc, c, cols, accumulate);
}

}  // namespace hrseg::kernels

#endif  // __x86_64__
