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
using MicroKernel = void (*)(const float* a, int64_t lda, const float* b, int64_t kc, float* c, int64_t ldc, int rows,
                             int cols, bool accumulate);

void micro_generic(const float* a, int64_t lda, const float* b, int64_t kc, float* c, int64_t ldc, int rows, int cols,
                   bool accumulate);
#if defined(__x86_64__)
void micro_avx2(const float* a, int64_t lda, const float* b, int64_t kc, float* c, int64_t ldc, int rows, int cols,
                bool accumulate);
double fma_loop_avx2(int64_t iterations);
#endif
#if defined(__aarch64__)
// NEON (every ARMv8-A core has it): the same 6 x 16 tile as micro_avx2, and a one-row kernel
// (see row_avx2) for f32 panels; 16-bit panels are widened first (linear.cc's widen()).
void micro_neon(const float* a, int64_t lda, const float* b, int64_t kc, float* c, int64_t ldc, int rows, int cols,
                bool accumulate);
void row_neon(const float* a, const float* b, int64_t kc, float* c, int cols, bool accumulate);
double fma_loop_neon(int64_t iterations);
#endif
double fma_loop_generic(int64_t iterations);

// n 16-bit values to float: bf16 anywhere; f16 through F16C (call only after a CPU check).
void widen_bf16(const uint16_t* src, int64_t n, float* dst);
#if defined(__x86_64__)
void widen_f16_f16c(const uint16_t* src, int64_t n, float* dst);

// One row: c[0:cols] (+)= a[0:kc] · B_panel[kc x 16], B as f32 or read straight from bf16/f16
// (f16 through F16C: call only after a CPU check). A product of one row is bound by reading B,
// which the 6-row micro-kernel would stream at a sixth of its FMA rate; these keep 8 independent
// sums (k mod 4, two halves) and add them at the end, the same way for every storage, so a 16-bit
// weight gives the results of its f32 widening exactly.
void row_avx2(const float* a, const float* b, int64_t kc, float* c, int cols, bool accumulate);
void row_half_avx2(const float* a, const uint16_t* b, bool bf16, int64_t kc, float* c, int cols, bool accumulate);

// AVX-512 (linear_kernels_avx512.cc; call only after cpu_features().avx512): the same tile and
// row products as the AVX2 ones, each output's products and sums in the same order, so the two
// give identical results.
void micro_avx512(const float* a, int64_t lda, const float* b, int64_t kc, float* c, int64_t ldc, int rows, int cols,
                  bool accumulate);
void row_avx512(const float* a, const float* b, int64_t kc, float* c, int cols, bool accumulate);
void row_half_avx512(const float* a, const uint16_t* b, bool bf16, int64_t kc, float* c, int cols, bool accumulate);
#endif

}  // namespace hrseg::kernels
