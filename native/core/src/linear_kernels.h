// Micro-kernels behind linear(): C[mr x 16] (+)= A_panel[mr x kc] · B_panel[kc x 16].
// A is packed as [kc][6] (row-interleaved), B as [kc][16]. Internal to native/core.
#pragma once
#include <cstdint>

namespace hrseg::kernels {

constexpr int kMR = 6;
constexpr int kNR = 16;

// c: row stride ldc; writes only `rows` (<= 6) rows and `cols` (<= 16) columns; accumulate adds
// to c instead of overwriting it.
using MicroKernel = void (*)(const float* a, const float* b, int64_t kc, float* c, int64_t ldc, int rows, int cols,
                             bool accumulate);

void micro_generic(const float* a, const float* b, int64_t kc, float* c, int64_t ldc, int rows, int cols,
                   bool accumulate);
#if defined(__x86_64__)
void micro_avx2(const float* a, const float* b, int64_t kc, float* c, int64_t ldc, int rows, int cols,
                bool accumulate);
double fma_loop_avx2(int64_t iterations);
#endif
double fma_loop_generic(int64_t iterations);

}  // namespace hrseg::kernels
