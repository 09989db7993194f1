#include "hrseg/linear.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>
#include <vector>

#include "hrseg/error.h"
#include "hrseg/thread_pool.h"
#include "hrseg/cpu_peaks.h"
#include "linear_kernels.h"

namespace hrseg {

namespace {

using kernels::kMR;
using kernels::kNR;
static_assert(PackedWeight::kPanel == kNR, "panel width must match the micro-kernel");

constexpr int64_t kKC = 256;            // depth of one pass: a B panel slice (16 KiB) stays in L1
constexpr int64_t kMC = 96;             // rows per tile: its A block (96 x kc, 96 KiB) stays in L2
constexpr int64_t kPanelsPerTile = 16;  // 256 output columns per tile: A is read from memory once for d = 256
constexpr double kSerialFlops = 2e6;    // below this, linear() does not use the pool
constexpr int64_t kTilesPerThread = 4;  // fewer tiles than this per thread: narrow them (see linear())

std::atomic<bool> g_force_generic{false};

[[maybe_unused]] bool cpu_has_avx2_fma() {  // unused on aarch64
  return cpu_features().avx2_fma;           // HRSEG_CPU_ISA=generic caps it
}

bool cpu_has_f16c() {
#if defined(__x86_64__)
  static const bool ok = __builtin_cpu_supports("f16c");
  return ok;
#else
  return false;
#endif
}

kernels::MicroKernel pick_kernel() {
#if defined(__x86_64__)
  if (cpu_features().avx512 && !g_force_generic.load()) return kernels::micro_avx512;
  if (cpu_has_avx2_fma() && !g_force_generic.load()) return kernels::micro_avx2;
#endif
#if defined(__aarch64__)
  if (!g_force_generic.load()) return kernels::micro_neon;  // NEON is baseline on aarch64: no check
#endif
  return kernels::micro_generic;
}

}  // namespace

PackedWeight::PackedWeight(const float* w, const float* bias, int64_t out, int64_t in)
    : PackedWeight(w, out, in, in, 1) {
  if (bias) bias_.assign(bias, bias + out);
}

PackedWeight::PackedWeight(const float* w, int64_t out, int64_t in, int64_t stride_out, int64_t stride_in)
    : out_(out), in_(in) {
  const int64_t panels = (out + kNR - 1) / kNR;
  panels_.assign(static_cast<size_t>(panels * in * kNR), 0.0f);
  for (int64_t p = 0; p < panels; ++p) {
    const int64_t cols = std::min<int64_t>(kNR, out - p * kNR);
    for (int64_t k = 0; k < in; ++k) {
      float* dst = panels_.data() + (p * in + k) * kNR;
      const float* src = w + p * kNR * stride_out + k * stride_in;
      if (stride_out == 1) {  // a row-major [in, out] matrix (attention values): 16 floats at a time
        std::memcpy(dst, src, sizeof(float) * static_cast<size_t>(cols));
      } else {
        for (int64_t j = 0; j < cols; ++j) dst[j] = src[j * stride_out];
      }
    }
  }
}

PackedWeight PackedWeight::from_stored(const void* w, DType dtype, const float* bias, int64_t out, int64_t in) {
  const size_t n = static_cast<size_t>(out * in);
  const auto* bytes = static_cast<const uint8_t*>(w);
  if (dtype == DType::BF16 || (dtype == DType::F16 && cpu_has_f16c())) {
    PackedWeight p;
    p.out_ = out, p.in_ = in, p.storage_ = dtype;
    const int64_t panels = (out + kNR - 1) / kNR;
    p.half_.assign(static_cast<size_t>(panels * in * kNR), uint16_t{0});
    for (int64_t o = 0; o < out; ++o)
      for (int64_t k = 0; k < in; ++k)  // memcpy: the file's bytes need not be 2-byte aligned
        std::memcpy(&p.half_[static_cast<size_t>(((o / kNR) * in + k) * kNR + o % kNR)], bytes + 2 * (o * in + k), 2);
    if (bias) p.bias_.assign(bias, bias + out);
    return p;
  }
  if (dtype == DType::F32 && reinterpret_cast<uintptr_t>(bytes) % alignof(float) == 0)
    return PackedWeight(reinterpret_cast<const float*>(bytes), bias, out, in);  // in place, no copy
  std::vector<float> wide(n);
  if (dtype == DType::F32) {
    std::memcpy(wide.data(), bytes, n * sizeof(float));
  } else if (dtype == DType::F16) {
    for (size_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, bytes + 2 * i, 2);
      wide[i] = f16_bits_to_float(h);
    }
  } else {
    fail(ErrorCode::InvalidArgument,
         std::string("PackedWeight: weights must be F32, F16 or BF16, not ") + dtype_name(dtype));
  }
  return PackedWeight(wide.data(), bias, out, in);
}

float PackedWeight::at(int64_t o, int64_t i) const {
  const size_t idx = static_cast<size_t>(((o / kNR) * in_ + i) * kNR + o % kNR);
  if (storage_ == DType::F32) return panels_[idx];
  return storage_ == DType::BF16 ? bf16_bits_to_float(half_[idx]) : f16_bits_to_float(half_[idx]);
}

PackedWeight PackedWeight::stack(const PackedWeight& a, const PackedWeight& b) {
  if (a.in() != b.in())
    fail(ErrorCode::InvalidArgument, "PackedWeight::stack: the weights read inputs of different widths");
  // Unpack both to [out, in] rows and pack once: the panels of `b` need not start on a panel edge.
  const int64_t in = a.in(), out = a.out() + b.out();
  std::vector<float> rows(static_cast<size_t>(out * in)), bias(static_cast<size_t>(out), 0.0f);
  auto unpack = [in, &rows, &bias](const PackedWeight& w, int64_t o0) {
    for (int64_t o = 0; o < w.out(); ++o) {
      for (int64_t k = 0; k < in; ++k) rows[(o0 + o) * in + k] = w.at(o, k);
      if (w.bias()) bias[o0 + o] = w.bias()[o];
    }
  };
  unpack(a, 0);
  unpack(b, a.out());
  return PackedWeight(rows.data(), a.bias() || b.bias() ? bias.data() : nullptr, out, in);
}

namespace {

// Output tiles: kMC rows by per_tile panels. No tiling changes the order of any sum, so results
// are the same however a product is tiled or threaded.
struct Tiling {
  int64_t panels, row_blocks, per_tile, groups;
  int64_t count() const { return row_blocks * groups; }
};

Tiling make_tiling(int64_t rows, int64_t N, int64_t min_tiles) {
  Tiling t;
  t.panels = (N + kNR - 1) / kNR;
  t.row_blocks = (rows + kMC - 1) / kMC;
  // Few rows (a head's K = 50 queries) would make one tile, and a few row blocks balance poorly:
  // split the columns finer so every core gets work.
  t.per_tile = kPanelsPerTile;
  while (t.per_tile > 1 && t.row_blocks * ((t.panels + t.per_tile - 1) / t.per_tile) < min_tiles) t.per_tile /= 2;
  t.groups = (t.panels + t.per_tile - 1) / t.per_tile;
  return t;
}

void widen(const PackedWeight& w, int64_t offset, int64_t n, float* dst) {
  const uint16_t* src = w.half_panels() + offset;
  if (w.storage() == DType::BF16) return kernels::widen_bf16(src, n, dst);
#if defined(__x86_64__)
  if (cpu_has_f16c()) return kernels::widen_f16_f16c(src, n, dst);
#endif
  for (int64_t i = 0; i < n; ++i) dst[i] = f16_bits_to_float(src[i]);  // not reached: packed as F32 then
}

void run_tile(const Tiling& tl, int64_t t, kernels::MicroKernel micro, const float* x, int64_t rows, int64_t ldx,
              const PackedWeight& w, float* y) {
  const int64_t K = w.in(), N = w.out();
  const int64_t rb = t / tl.groups, pg = t % tl.groups;
  const int64_t r0 = rb * kMC, mc = std::min(kMC, rows - r0);
  const int64_t p0 = pg * tl.per_tile, p1 = std::min(tl.panels, p0 + tl.per_tile);
  const int64_t row_panels = (mc + kMR - 1) / kMR;
  if (K == 0) {
    for (int64_t r = 0; r < mc; ++r)
      for (int64_t n = p0 * kNR; n < std::min(N, p1 * kNR); ++n) y[(r0 + r) * N + n] = 0.0f;
  }
  // One B panel slice (kc x 16) stays in L1 while the tile's rows of A (mc x kc, in L2) pass it.
  // A 16-bit weight's slice is widened into this buffer first, once per slice and tile.
  alignas(64) static thread_local float wide[kKC * kNR];
  for (int64_t kc0 = 0; kc0 < K; kc0 += kKC) {
    const int64_t kc = std::min(kKC, K - kc0);
    for (int64_t p = p0; p < p1; ++p) {
      const int cols = static_cast<int>(std::min<int64_t>(kNR, N - p * kNR));
#if defined(__x86_64__)
      // A one-row product (a [SEG]'s text projection) streams B once: read it straight, f32 or
      // 16-bit, with the row kernel rather than widening slices for a 6-row micro-kernel.
      // (F16 panels exist only where F16C does: from_stored widens them otherwise.)
      if (rows == 1 && (micro == kernels::micro_avx2 || micro == kernels::micro_avx512)) {
        const int64_t off = (p * K + kc0) * kNR;
        const bool wide_isa = micro == kernels::micro_avx512;
        if (w.panels())
          (wide_isa ? kernels::row_avx512 : kernels::row_avx2)(x + kc0, w.panels() + off, kc, y + p * kNR, cols,
                                                               kc0 > 0);
        else
          (wide_isa ? kernels::row_half_avx512 : kernels::row_half_avx2)(
              x + kc0, w.half_panels() + off, w.storage() == DType::BF16, kc, y + p * kNR, cols, kc0 > 0);
        continue;
      }
#endif
#if defined(__aarch64__)
      // The one-row product on NEON: 16-bit panels are widened into `wide` first (as for the
      // micro-kernel), so a 16-bit weight gives the results of its f32 widening exactly.
      if (rows == 1 && micro == kernels::micro_neon) {
        const int64_t off = (p * K + kc0) * kNR;
        const float* bp = w.panels() ? w.panels() + off : wide;
        if (!w.panels()) widen(w, off, kc * kNR, wide);
        kernels::row_neon(x + kc0, bp, kc, y + p * kNR, cols, kc0 > 0);
        continue;
      }
#endif
      const float* bp = w.panels() ? w.panels() + (p * K + kc0) * kNR : wide;
      if (!w.panels()) widen(w, (p * K + kc0) * kNR, kc * kNR, wide);
      for (int64_t ip = 0; ip < row_panels; ++ip) {
        const int rws = static_cast<int>(std::min<int64_t>(kMR, mc - ip * kMR));
        const int64_t r = r0 + ip * kMR;
        micro(x + r * ldx + kc0, ldx, bp, kc, y + r * N + p * kNR, N, rws, cols, kc0 > 0);
      }
    }
  }
  if (const float* bias = w.bias()) {
    const int64_t n0 = p0 * kNR, n1 = std::min(N, p1 * kNR);
    for (int64_t r = 0; r < mc; ++r) {
      float* yr = y + (r0 + r) * N;
      for (int64_t n = n0; n < n1; ++n) yr[n] += bias[n];
    }
  }
}

}  // namespace

void linear(const float* x, int64_t rows, const PackedWeight& w, float* y, int64_t ldx) {
  if (rows <= 0 || w.out() <= 0) return;
  if (ldx <= 0) ldx = w.in();
  const kernels::MicroKernel micro = pick_kernel();
  // A product of a few MFLOP takes less time than waking the pool (the fusion blocks make
  // dozens of them per [SEG], one per attention head): run it here.
  if (2.0 * static_cast<double>(rows) * static_cast<double>(w.in()) * static_cast<double>(w.out()) < kSerialFlops)
    return linear_serial(x, rows, w, y, ldx);
  // Enough tiles that the last ones to finish leave little idle: 15 equal tiles on 2 threads
  // lose 1/16 of the time. Tiling may follow the thread count: no tiling changes any sum.
  const Tiling tl = make_tiling(rows, w.out(), kTilesPerThread * num_threads());
  parallel_for(0, tl.count(), 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) run_tile(tl, t, micro, x, rows, ldx, w, y);
  });
}

void linear_serial(const float* x, int64_t rows, const PackedWeight& w, float* y, int64_t ldx) {
  if (rows <= 0 || w.out() <= 0) return;
  if (ldx <= 0) ldx = w.in();
  const kernels::MicroKernel micro = pick_kernel();
  const Tiling tl = make_tiling(rows, w.out(), 1);
  for (int64_t t = 0; t < tl.count(); ++t) run_tile(tl, t, micro, x, rows, ldx, w, y);
}

const char* linear_kernel_name() noexcept {
  const kernels::MicroKernel k = pick_kernel();
#if defined(__x86_64__)
  if (k == kernels::micro_avx512) return "avx512";
  if (k == kernels::micro_avx2) return "avx2-fma";
#endif
#if defined(__aarch64__)
  if (k == kernels::micro_neon) return "neon";
#endif
  return "generic";
}

void force_generic_kernel(bool force) noexcept { g_force_generic.store(force); }

double measure_fma_peak(int threads, double seconds) {
  // The fp32 FMA peak of the instruction set the GEMM runs on (cpu_peaks.cc measures them all).
  const char* isa = linear_kernel_name();
  const char* want = std::string(isa) == "avx512"     ? "fp32 FMA (AVX-512)"
                     : std::string(isa) == "avx2-fma" ? "fp32 FMA (AVX2)"
                     : std::string(isa) == "neon"     ? "fp32 FMA (NEON)"
                                                      : "fp32 FMA (portable)";
  return measure_cpu_peak(want, threads, seconds);
}

}  // namespace hrseg
