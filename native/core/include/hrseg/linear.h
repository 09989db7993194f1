// Dense layers, Y = X·Wᵀ + b with W in PyTorch's [out, in] layout. The weight is packed once
// (at load) into column panels that the SIMD micro-kernel streams, which is what makes the
// image step fast; the same blocking is used for every thread count, so results are identical.
#pragma once
#include <cstdint>
#include <vector>

#include "hrseg/aligned_vector.h"
#include "hrseg/dtype.h"

namespace hrseg {

class PackedWeight {
 public:
  PackedWeight() = default;
  // w: [out, in] row-major; bias may be null.
  PackedWeight(const float* w, const float* bias, int64_t out, int64_t in);
  // Element (o, i) of the weight read from w[o·stride_out + i·stride_in]: packs a transposed or
  // column-sliced matrix (an attention head's keys or values) without an intermediate copy.
  PackedWeight(const float* w, int64_t out, int64_t in, int64_t stride_out, int64_t stride_in);

  // From a weight as a file stores it (any alignment): F32, F16 or BF16. 16-bit weights stay
  // 16-bit, half the memory and, for the memory-bound products of one or a few rows (the
  // 4096×4096 text projection), half the time; the GEMM widens each 16-column slice as it uses
  // it, so results equal those of the widened weight exactly. (F16 is widened here instead on a
  // CPU without F16C.)
  static PackedWeight from_stored(const void* w, DType dtype, const float* bias, int64_t out, int64_t in);

  // The outputs of `a` followed by those of `b` (same input width): one pass over X for both, as
  // for attention keys and values of the same source.
  static PackedWeight stack(const PackedWeight& a, const PackedWeight& b);

  int64_t out() const noexcept { return out_; }
  int64_t in() const noexcept { return in_; }
  bool empty() const noexcept { return out_ == 0; }
  // F32, or the 16-bit type the panels are kept in (then panels() is null and half_panels() holds
  // them, in the same layout).
  DType storage() const noexcept { return storage_; }
  const float* panels() const noexcept { return storage_ == DType::F32 ? panels_.data() : nullptr; }
  const uint16_t* half_panels() const noexcept { return half_.data(); }
  float at(int64_t o, int64_t i) const;  // element (o, i) of the weight, whatever the storage
  const float* bias() const noexcept { return bias_.empty() ? nullptr : bias_.data(); }

  static constexpr int64_t kPanel = 16;  // output columns per packed panel

 private:
  int64_t out_ = 0, in_ = 0;
  DType storage_ = DType::F32;
  AlignedVector<float> panels_;   // [ceil(out/16)][in][16], zero-padded, 64-byte aligned
  AlignedVector<uint16_t> half_;  // the same layout, for F16/BF16 storage
  std::vector<float> bias_;
};

// Y[rows, out] = X[rows, in] · Wᵀ + b. Row r of X starts at x + r·ldx (ldx 0: ldx = in), so a
// column slice of a wider matrix (one attention head) is read in place. Multithreaded.
void linear(const float* x, int64_t rows, const PackedWeight& w, float* y, int64_t ldx = 0);
// The same product on the calling thread only: for work already split across the pool (a
// parallel_for body may not start another parallel loop). Same results as linear().
void linear_serial(const float* x, int64_t rows, const PackedWeight& w, float* y, int64_t ldx = 0);

// Which micro-kernel linear() uses on this CPU ("avx2-fma", "neon" on aarch64, or "generic").
const char* linear_kernel_name() noexcept;
// For tests: force the portable kernel even where AVX2 (or NEON) is available.
void force_generic_kernel(bool force) noexcept;

// The CPU's fp32 FMA throughput (FLOP/s) in the instruction set linear() runs on (AVX-512, AVX2,
// NEON or portable), measured by a register-only FMA loop on `threads` threads for about
// `seconds` (cpu_peaks.h): the ceiling that GEMM efficiency is reported against.
double measure_fma_peak(int threads, double seconds);

}  // namespace hrseg
