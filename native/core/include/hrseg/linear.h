// Dense layers, Y = X·Wᵀ + b with W in PyTorch's [out, in] layout. The weight is packed once
// (at load) into column panels that the SIMD micro-kernel streams, which is what makes the
// image step fast; the same blocking is used for every thread count, so results are identical.
#pragma once
#include <cstdint>
#include <vector>

#include "hrseg/aligned_vector.h"

namespace hrseg {

class PackedWeight {
 public:
  PackedWeight() = default;
  // w: [out, in] row-major; bias may be null.
  PackedWeight(const float* w, const float* bias, int64_t out, int64_t in);
  // Element (o, i) of the weight read from w[o·stride_out + i·stride_in]: packs a transposed or
  // column-sliced matrix (an attention head's keys or values) without an intermediate copy.
  PackedWeight(const float* w, int64_t out, int64_t in, int64_t stride_out, int64_t stride_in);

  // The outputs of `a` followed by those of `b` (same input width): one pass over X for both, as
  // for attention keys and values of the same source.
  static PackedWeight stack(const PackedWeight& a, const PackedWeight& b);

  int64_t out() const noexcept { return out_; }
  int64_t in() const noexcept { return in_; }
  bool empty() const noexcept { return out_ == 0; }
  const float* panels() const noexcept { return panels_.data(); }
  const float* bias() const noexcept { return bias_.empty() ? nullptr : bias_.data(); }

  static constexpr int64_t kPanel = 16;  // output columns per packed panel

 private:
  int64_t out_ = 0, in_ = 0;
  AlignedVector<float> panels_;  // [ceil(out/16)][in][16], zero-padded, 64-byte aligned
  std::vector<float> bias_;
};

// Y[rows, out] = X[rows, in] · Wᵀ + b. Row r of X starts at x + r·ldx (ldx 0: ldx = in), so a
// column slice of a wider matrix (one attention head) is read in place. Multithreaded.
void linear(const float* x, int64_t rows, const PackedWeight& w, float* y, int64_t ldx = 0);
// The same product on the calling thread only: for work already split across the pool (a
// parallel_for body may not start another parallel loop). Same results as linear().
void linear_serial(const float* x, int64_t rows, const PackedWeight& w, float* y, int64_t ldx = 0);

// Which micro-kernel linear() uses on this CPU ("avx2-fma" or "generic").
const char* linear_kernel_name() noexcept;
// For tests: force the portable kernel even where AVX2 is available.
void force_generic_kernel(bool force) noexcept;

// The CPU's fp32 FMA throughput (FLOP/s) measured by a register-only FMA loop on `threads`
// threads for about `seconds`: the ceiling that GEMM efficiency is reported against.
double measure_fma_peak(int threads, double seconds);

}  // namespace hrseg
