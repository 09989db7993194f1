#include "linear_kernels.h"

#include <cstring>

namespace hrseg::kernels {

void micro_generic(const float* a, int64_t lda, const float* b, int64_t kc, float* c, int64_t ldc, int rows, int cols,
                   bool accumulate) {
  float acc[kMR][kNR] = {};
  for (int64_t k = 0; k < kc; ++k) {
    const float* bk = b + k * kNR;
    for (int i = 0; i < rows; ++i)
      for (int j = 0; j < kNR; ++j) acc[i][j] += a[i * lda + k] * bk[j];
  }
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) c[i * ldc + j] = accumulate ? c[i * ldc + j] + acc[i][j] : acc[i][j];
}

void widen_bf16(const uint16_t* src, int64_t n, float* dst) {
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t bits = static_cast<uint32_t>(src[i]) << 16;  // bf16 is the top half of an f32
    std::memcpy(dst + i, &bits, sizeof bits);
  }
}

// Starts at 0, not at the recurrence's fixed point 1: from 1, GCC proved every step returns 1 and
// compiled the loop away (a peak of an empty function).
double fma_loop_generic(int64_t iterations) {
  float x[8] = {};
  for (int64_t i = 0; i < iterations; ++i)
    for (float& v : x) v = v * 0.999f + 0.001f;
  float s = 0;
  for (float v : x) s += v;
  return s;
}

}  // namespace hrseg::kernels
