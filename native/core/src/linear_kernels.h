// Micro-kernels behind linear(): C[rows x 16] (+)= A[rows x kc] · B_panel[kc x 16].
// A is read in place (rows lda apart): packing it cost more than it saved, because a head's
// layers are narrow (d = 256 outputs), so a packed A block is reused by only 16 panels.
// B is packed as [kc][16], 64-byte aligned. Internal to native/core.
#pragma once
#include <cstdint>

namespace hrseg::kernels {

constexpr int kMR = 6;
constexpr int kNR = 16;

// c: row stride ldc; reads and writes only `rows` (1..6) rows and `cols` (<= 16) columns;
// accumulate adds to c instead of overwriting it.
using MicroKernel = void (*)(const float* a, int64_t lda, const float* b, int64_t kc, float* c, int64_t ldc,
                             int rows, int cols, bool accumulate);

void micro_generic(const float* a, int64_t lda, const float* b, int64_t kc, float* c, int64_t ldc, int rows,
                   int cols, bool accumulate);
#if defined(__x86_64__)
void micro_avx2(const float* a, int64_t lda, const float* b, int64_t kc, float* c, int64_t ldc, int rows,
                int cols, bool accumulate);
double fma_loop_avx2(int64_t iterations);
#endif
double fma_loop_generic(int64_t iterations);

// n 16-bit values to float: bf16 anywhere; f16 through F16C (call only after a CPU check).
void widen_bf16(const uint16_t* src, int64_t n, float* dst);
#if defined(__x86_64__)
void widen_f16_f16c(const uint16_t* src, int64_t n, float* dst);
#endif

}  // namespace hrseg::kernels
