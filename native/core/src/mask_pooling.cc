#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "hrseg/head_ops.h"
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

// The transpose of the taps: for grid column j, the (x, weight) pairs of all outputs reading it.
struct PullBack {
  std::vector<int64_t> start, x;
  std::vector<double> coef;
};

PullBack pull_back(const std::vector<Tap>& taps, int64_t n) {
  PullBack p;
  p.start.assign(static_cast<size_t>(n + 1), 0);
  for (const Tap& t : taps) {
    ++p.start[t.i0 + 1];
    ++p.start[t.i1 + 1];
  }
  for (int64_t j = 0; j < n; ++j) p.start[j + 1] += p.start[j];
  p.x.resize(static_cast<size_t>(p.start[n]));
  p.coef.resize(p.x.size());
  std::vector<int64_t> fill(p.start.begin(), p.start.end() - 1);
  for (size_t xo = 0; xo < taps.size(); ++xo) {
    const Tap& t = taps[xo];
    p.x[fill[t.i0]] = static_cast<int64_t>(xo);
    p.coef[fill[t.i0]++] = t.l0;
    p.x[fill[t.i1]] = static_cast<int64_t>(xo);
    p.coef[fill[t.i1]++] = t.l1;
  }
  return p;
}


// First and one-past-last non-zero byte of a row ({n, n} when it has none). Eight bytes at a time
// (or 32) from each end: a proposal is local, so both scans stop early on the rows it touches, and the
// bytes between are read only once, by the column sums.
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


// PyTorch's adaptive-average bins for a proposal in the padded square frame (side S = max(H, W)):
// bin o covers [floor(o·S/P), ceil((o+1)·S/P)). Columns are clipped to the image (the padding is
// zero).
struct AreaBins {
  int64_t H, W, P;
  std::vector<int64_t> lo, hi, xlo, xhi;
  std::vector<double> inv_cols;
  AreaBins(int64_t H_, int64_t W_, int64_t P_) : H(H_), W(W_), P(P_) {
    const int64_t S = std::max(H, W);
    lo.resize(static_cast<size_t>(P)), hi.resize(static_cast<size_t>(P));
    xlo.resize(static_cast<size_t>(P)), xhi.resize(static_cast<size_t>(P)), inv_cols.resize(static_cast<size_t>(P));
    for (int64_t o = 0; o < P; ++o) {
      lo[o] = (o * S) / P;
      hi[o] = ((o + 1) * S + P - 1) / P;
      xlo[o] = std::min(lo[o], W);
      xhi[o] = std::min(hi[o], W);
      inv_cols[o] = 1.0 / static_cast<double>(hi[o] - lo[o]);
    }
  }
};

// Per-thread buffers of area_rows, kept across the proposals a thread handles.
struct AreaScratch {
  std::vector<Extent> ext;
  std::vector<uint16_t> colsum;
  std::vector<float> vals;
};

// The non-zero rows of a proposal's P×P area weights: row(oy, ox0, ox1, v) for each row bin oy
// that holds a pixel, with v[ox − ox0] the weights of the column bins ox0 … ox1−1 its extent
// overlaps (every other weight of the row is zero). Row bins in order, columns in order.
template <typename Row>
void area_rows(const uint8_t* mask, const AreaBins& b, AreaScratch& s, Row&& row) {
  const int64_t H = b.H, W = b.W, P = b.P;
  // Each row's non-zero extent, found once: adjacent row bins share rows when S/P is fractional.
  s.ext.resize(static_cast<size_t>(H));
  for (int64_t y = 0; y < H; ++y) s.ext[y] = row_extent(mask + y * W, W);
  // For each row bin: add its rows column-wise over their extent, then sum each column bin that
  // the extent touches. 16-bit column sums: a row bin spans at most ceil(S/P) + 1 rows.
  s.colsum.resize(static_cast<size_t>(W));
  s.vals.resize(static_cast<size_t>(P));
  for (int64_t oy = 0; oy < P; ++oy) {
    int64_t bx0 = W, bx1 = 0;
    for (int64_t y = b.lo[oy]; y < std::min(b.hi[oy], H); ++y) {
      bx0 = std::min(bx0, s.ext[y].x0);
      bx1 = std::max(bx1, s.ext[y].x1);
    }
    if (bx0 >= bx1) continue;  // proposals are local: most row bins of a mask are empty
    uint16_t* __restrict cs = s.colsum.data();  // bytes may alias anything: promise they don't
    std::fill(cs + bx0, cs + bx1, uint16_t{0});
    for (int64_t y = b.lo[oy]; y < std::min(b.hi[oy], H); ++y) {
      const Extent e = s.ext[y];
      const uint8_t* __restrict r = mask + y * W;
      for (int64_t x = e.x0; x < e.x1; ++x) cs[x] = static_cast<uint16_t>(cs[x] + (r[x] != 0));
    }
    const double inv_rows = 1.0 / static_cast<double>(b.hi[oy] - b.lo[oy]);
    // Column bins that overlap [bx0, bx1): bins are increasing in both ends.
    const int64_t ox0 = std::upper_bound(b.xhi.begin(), b.xhi.end(), bx0) - b.xhi.begin();
    int64_t ox1 = ox0;
    for (; ox1 < P && b.xlo[ox1] < bx1; ++ox1) {
      uint32_t n = 0;
      for (int64_t x = std::max(b.xlo[ox1], bx0); x < std::min(b.xhi[ox1], bx1); ++x) n += cs[x];
      s.vals[ox1 - ox0] = static_cast<float>(static_cast<double>(n) * inv_rows * b.inv_cols[ox1]);
    }
    row(oy, ox0, ox1, s.vals.data());
  }
}

}  // namespace

double area_weights(const uint8_t* mask, int64_t H, int64_t W, int64_t P, float* w) {
  const AreaBins bins(H, W, P);
  AreaScratch scratch;
  std::fill(w, w + P * P, 0.0f);
  double total = 0;
  area_rows(mask, bins, scratch, [&](int64_t oy, int64_t ox0, int64_t ox1, const float* v) {
    for (int64_t ox = ox0; ox < ox1; ++ox) {
      w[oy * P + ox] = v[ox - ox0];
      total += v[ox - ox0];
    }
  });
  return total;
}

void mask_pool(const uint8_t* masks, int64_t K, int64_t H, int64_t W, const float* src, int64_t ng, int64_t d,
               int64_t P, bool pulled_back, float* out) {
  if (K <= 0) return;
  const auto taps = bilinear_taps(P, ng);
  if (pulled_back) {
    // Each proposal's weights pulled back onto the grid, G = Uyᵀ·w·Ux (normalised), one row of
    // G [K, ng²] per proposal; then M = G·src is one GEMM for all of them.
    const PullBack pull = pull_back(taps, ng);
    auto g = scratch<float>(static_cast<size_t>(K * ng * ng));
    const AreaBins bins(H, W, P);
    parallel_for(0, K, 1, [&](int64_t k0, int64_t k1) {
      AreaScratch as;
      std::vector<double> t(static_cast<size_t>(ng * P), 0.0);  // Uyᵀ·w, rows kept zero between proposals
      std::vector<uint8_t> live(static_cast<size_t>(ng), 0);
      for (int64_t k = k0; k < k1; ++k) {
        // T = Uyᵀ·w as the weights are made, row bin by row bin, over the columns they cover.
        double total = 0;
        area_rows(masks + k * H * W, bins, as, [&](int64_t oy, int64_t ox0, int64_t ox1, const float* v) {
          const Tap& ty = taps[oy];
          double* __restrict t0 = t.data() + ty.i0 * P;
          double* __restrict t1 = t.data() + ty.i1 * P;
          const double l0 = ty.l0, l1 = ty.l1;
          for (int64_t ox = ox0; ox < ox1; ++ox) {
            total += v[ox - ox0];
            t0[ox] += l0 * v[ox - ox0];
            t1[ox] += l1 * v[ox - ox0];
          }
          live[ty.i0] = live[ty.i1] = 1;
        });
        // G = T·Ux: each grid column gathers its own taps (sums in registers, no store-to-load
        // chains); the normaliser of eq. 10 is folded in here.
        const double norm = 1.0 / (total + 1e-8);
        float* gk = g.get() + k * ng * ng;
        std::fill(gk, gk + ng * ng, 0.0f);
        for (int64_t i = 0; i < ng; ++i) {
          if (!live[i]) continue;
          double* ti = t.data() + i * P;
          for (int64_t j = 0; j < ng; ++j) {
            double acc = 0;
            for (int64_t q = pull.start[j]; q < pull.start[j + 1]; ++q) acc += ti[pull.x[q]] * pull.coef[q];
            gk[i * ng + j] = static_cast<float>(acc * norm);
          }
          std::fill(ti, ti + P, 0.0);
          live[i] = 0;
        }
      }
    });
    linear(g.get(), K, PackedWeight(src, d, ng * ng, 1, d), out);
    return;
  }
  // The definition: the map upsampled to P×P, each proposal's area weights over it.
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
      const double total = area_weights(masks + k * H * W, H, W, P, w.data());
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
