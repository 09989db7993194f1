#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "hrseg/head_ops.h"
#include "hrseg/mask_resize.h"
#include "hrseg/scratch.h"
#include "hrseg/thread_pool.h"

namespace hrseg {

namespace {

// One row of PyTorch's bilinear upsampling (align_corners = false) from n to P samples:
// output p reads inputs i0, i1 with weights l0, l1.
struct Tap {
  int64_t i0, i1;
  float l0, l1;
};

std::vector<Tap> bilinear_taps(int64_t P, int64_t n) {
  std::vector<Tap> taps(static_cast<size_t>(P));
  const double ratio = static_cast<double>(n) / static_cast<double>(P);
  for (int64_t p = 0; p < P; ++p) {
    double src = (static_cast<double>(p) + 0.5) * ratio - 0.5;
    if (src < 0) src = 0;
    int64_t i0 = std::min<int64_t>(static_cast<int64_t>(src), n - 1);
    int64_t i1 = std::min<int64_t>(i0 + 1, n - 1);
    double l1 = src - static_cast<double>(i0);
    taps[p] = {i0, i1, static_cast<float>(1.0 - l1), static_cast<float>(l1)};
  }
  return taps;
}

// First and one-past-last non-zero byte of a row ({n, n} when it has none). Eight bytes at a time
// (or 32) from each end: a proposal is local, so both scans stop early on the rows it touches, and the
// bytes between are read only once, by the run scan.
struct Extent {
  int64_t x0, x1;
};

Extent row_extent(const uint8_t* r, int64_t n) {
  int64_t x0 = 0;
  for (; x0 + 32 <= n; x0 += 32) {  // 32 bytes per test: one branch per half cache line
    uint64_t v[4];
    std::memcpy(v, r + x0, 32);
    if (v[0] | v[1] | v[2] | v[3]) break;
  }
  for (; x0 + 8 <= n; x0 += 8) {
    uint64_t v;
    std::memcpy(&v, r + x0, 8);
    if (v) break;
  }
  while (x0 < n && !r[x0]) ++x0;
  if (x0 == n) return {n, n};
  int64_t x1 = n;
  for (; x1 - 8 >= x0; x1 -= 8) {
    uint64_t v;
    std::memcpy(&v, r + x1 - 8, 8);
    if (v) break;
  }
  while (!r[x1 - 1]) --x1;
  return {x0, x1};
}

constexpr uint64_t kOnes = 0x0101010101010101ULL, kHighs = 0x8080808080808080ULL;

// The first byte at or after x (before end) that is zero, or non-zero: eight bytes per test inside
// long runs.
int64_t skip_nonzero(const uint8_t* r, int64_t x, int64_t end) {
  for (; x + 8 <= end; x += 8) {
    uint64_t v;
    std::memcpy(&v, r + x, 8);
    if ((v - kOnes) & ~v & kHighs) break;  // some byte is zero
  }
  while (x < end && r[x]) ++x;
  return x;
}

int64_t skip_zero(const uint8_t* r, int64_t x, int64_t end) {
  for (; x + 8 <= end; x += 8) {
    uint64_t v;
    std::memcpy(&v, r + x, 8);
    if (v) break;
  }
  while (x < end && !r[x]) ++x;
  return x;
}

// One axis of the pulled-back operator Bᵀ = Rᵀ·U (the resize's transpose composed with the
// bilinear upsampling ng → P): input pixel p < limit reaches grid cells [lo[p], hi[p]) with
// coefficients dense[p·ng + j], and carries mass[p] = Σ_o R[o][p] of the normaliser Σw.
struct PulledAxis {
  int64_t ng = 0, limit = 0;
  std::vector<int64_t> lo, hi;
  std::vector<double> dense, mass;
};

PulledAxis pulled_axis(const ResizeAxis& r, const std::vector<Tap>& up, int64_t ng) {
  PulledAxis a;
  a.ng = ng, a.limit = r.limit;
  const size_t n = static_cast<size_t>(r.limit);
  a.dense.assign(n * static_cast<size_t>(ng), 0.0);
  a.mass.assign(n, 0.0);
  for (int64_t o = 0; o < r.out; ++o) {
    const Tap& u = up[static_cast<size_t>(o)];
    for (int64_t t = 0; t < r.count[o]; ++t) {
      const int64_t p = r.first[o] + t;
      const double w = r.weight[static_cast<size_t>(r.offset[o] + t)];
      a.dense[p * ng + u.i0] += w * static_cast<double>(u.l0);
      a.dense[p * ng + u.i1] += w * static_cast<double>(u.l1);
      a.mass[p] += w;
    }
  }
  a.lo.assign(n, ng);
  a.hi.assign(n, 0);
  for (int64_t p = 0; p < r.limit; ++p)
    for (int64_t j = 0; j < ng; ++j)
      if (a.dense[p * ng + j] != 0.0) {
        a.lo[p] = std::min(a.lo[p], j);
        a.hi[p] = j + 1;
      }
  return a;
}

// The x axis as running sums, so that a run of set pixels [a, b) adds prefix[b] − prefix[a] (its
// ng coefficients and, in column ng, its mass) in one pass over the grid columns it reaches.
// span_lo[a] / span_hi[b−1] bound those columns for any run [a, b).
struct ColumnPrefix {
  int64_t ng = 0;
  std::vector<double> prefix;  // [(limit + 1) · (ng + 1)]
  std::vector<int64_t> span_lo, span_hi;
  explicit ColumnPrefix(const PulledAxis& a) : ng(a.ng) {
    const int64_t w = ng + 1, n = a.limit;
    prefix.assign(static_cast<size_t>((n + 1) * w), 0.0);
    for (int64_t p = 0; p < n; ++p) {
      const double* prev = prefix.data() + p * w;
      double* next = prefix.data() + (p + 1) * w;
      for (int64_t j = 0; j < ng; ++j) next[j] = prev[j] + a.dense[p * ng + j];
      next[ng] = prev[ng] + a.mass[p];
    }
    span_lo.resize(static_cast<size_t>(n));
    span_hi.resize(static_cast<size_t>(n));
    int64_t lo = ng, hi = 0;
    for (int64_t p = n - 1; p >= 0; --p) span_lo[p] = lo = std::min(lo, a.lo[p]);
    for (int64_t p = 0; p < n; ++p) span_hi[p] = hi = std::max(hi, a.hi[p]);
  }
};

}  // namespace

void mask_pool(const uint8_t* masks, int64_t K, int64_t H, int64_t W, const float* src, int64_t ng, int64_t d,
               int64_t P, MaskResize resize, bool pulled_back, float* out) {
  if (K <= 0) return;
  const auto taps = bilinear_taps(P, ng);
  const MaskResizer resizer(resize, H, W, P);
  if (pulled_back) {
    // G = Bᵧᵀ·M·Bₓ per proposal (one row of G [K, ng²] each, normalised), then M_HRP = G·src is
    // one GEMM for all proposals. Bₓ is applied run by run through its running sums, Bᵧ row by
    // row: the cost follows the mask's rows and runs, not its pixels.
    const PulledAxis py = pulled_axis(resizer.y, taps, ng);
    const ColumnPrefix cx(pulled_axis(resizer.x, taps, ng));
    const int64_t w1 = ng + 1;
    auto g = scratch<float>(static_cast<size_t>(K * ng * ng));
    parallel_for(0, K, 1, [&](int64_t k0, int64_t k1) {
      std::vector<double> t(static_cast<size_t>(ng * ng), 0.0);  // Bᵧᵀ·M·Bₓ, zeroed between proposals
      std::vector<double> r(static_cast<size_t>(w1), 0.0);       // one row's M·Bₓ, and its mass
      std::vector<uint8_t> live(static_cast<size_t>(ng), 0);
      for (int64_t k = k0; k < k1; ++k) {
        const uint8_t* mask = masks + k * H * W;
        double total = 0;
        int64_t jlo = ng, jhi = 0;
        for (int64_t y = 0; y < H; ++y) {
          if (py.hi[y] <= py.lo[y]) continue;  // a row no output reads
          const uint8_t* row = mask + y * W;
          const Extent e = row_extent(row, W);
          if (e.x0 >= e.x1) continue;
          const int64_t j0 = cx.span_lo[e.x0], j1 = cx.span_hi[e.x1 - 1];
          std::fill(r.begin() + j0, r.begin() + j1, 0.0);
          double mass = 0;
          for (int64_t x = e.x0; x < e.x1; x = skip_zero(row, x, e.x1)) {
            const int64_t a = x;
            x = skip_nonzero(row, x, e.x1);
            const double* __restrict ca = cx.prefix.data() + a * w1;
            const double* __restrict cb = cx.prefix.data() + x * w1;
            for (int64_t j = cx.span_lo[a]; j < cx.span_hi[x - 1]; ++j) r[j] += cb[j] - ca[j];
            mass += cb[ng] - ca[ng];
          }
          for (int64_t i = py.lo[y]; i < py.hi[y]; ++i) {
            const double c = py.dense[y * ng + i];
            double* __restrict ti = t.data() + i * ng;
            for (int64_t j = j0; j < j1; ++j) ti[j] += c * r[j];
            live[i] = 1;
          }
          total += py.mass[y] * mass;
          jlo = std::min(jlo, j0), jhi = std::max(jhi, j1);
        }
        const double norm = 1.0 / (total + 1e-8);
        float* gk = g.get() + k * ng * ng;
        std::fill(gk, gk + ng * ng, 0.0f);
        for (int64_t i = 0; i < ng; ++i) {
          if (!live[i]) continue;
          double* ti = t.data() + i * ng;
          for (int64_t j = jlo; j < jhi; ++j) gk[i * ng + j] = static_cast<float>(ti[j] * norm);
          std::fill(ti + jlo, ti + jhi, 0.0);
          live[i] = 0;
        }
      }
    });
    linear(g.get(), K, PackedWeight(src, d, ng * ng, 1, d), out);
    return;
  }
  // The definition: the map upsampled to P×P, each proposal's resized weights over it.
  std::vector<float> up(static_cast<size_t>(P * P * d), 0.0f);
  parallel_for(0, P, 8, [&](int64_t y0, int64_t y1) {
    for (int64_t y = y0; y < y1; ++y)
      for (int64_t x = 0; x < P; ++x) {
        const Tap& ty = taps[y];
        const Tap& tx = taps[x];
        float* u = up.data() + (y * P + x) * d;
        const float* s00 = src + (ty.i0 * ng + tx.i0) * d;
        const float* s01 = src + (ty.i0 * ng + tx.i1) * d;
        const float* s10 = src + (ty.i1 * ng + tx.i0) * d;
        const float* s11 = src + (ty.i1 * ng + tx.i1) * d;
        for (int64_t e = 0; e < d; ++e)
          u[e] = ty.l0 * (tx.l0 * s00[e] + tx.l1 * s01[e]) + ty.l1 * (tx.l0 * s10[e] + tx.l1 * s11[e]);
      }
  });
  parallel_for(0, K, 1, [&](int64_t k0, int64_t k1) {
    std::vector<float> w(static_cast<size_t>(P * P));
    for (int64_t k = k0; k < k1; ++k) {
      const double total = resizer.weights(masks + k * H * W, w.data());
      float* __restrict o = out + k * d;
      std::fill(o, o + d, 0.0f);
      const float norm = static_cast<float>(1.0 / (total + 1e-8));
      for (int64_t p = 0; p < P * P; ++p) {
        if (w[p] == 0) continue;
        const float* u = up.data() + p * d;
        for (int64_t e = 0; e < d; ++e) o[e] += w[p] * u[e];
      }
      for (int64_t e = 0; e < d; ++e) o[e] *= norm;
    }
  });
}

}  // namespace hrseg
