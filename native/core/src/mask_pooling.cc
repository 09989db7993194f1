#include <algorithm>
#include <cmath>
#include <vector>

#include "hrseg/head_ops.h"
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

}  // namespace

void area_weights(const uint8_t* mask, int64_t H, int64_t W, int64_t P, float* w) {
  const int64_t S = std::max(H, W);
  // PyTorch's adaptive-average bins: [floor(o·S/P), ceil((o+1)·S/P)). Computed once, not per row.
  std::vector<int64_t> lo(static_cast<size_t>(P)), hi(static_cast<size_t>(P));
  for (int64_t o = 0; o < P; ++o) {
    lo[o] = (o * S) / P;
    hi[o] = ((o + 1) * S + P - 1) / P;
  }
  // Column bins clipped to the image (the padding is zero), as prefix-sum indices.
  std::vector<int64_t> xlo(static_cast<size_t>(P)), xhi(static_cast<size_t>(P));
  for (int64_t o = 0; o < P; ++o) {
    xlo[o] = std::min(lo[o], W);
    xhi[o] = std::min(hi[o], W);
  }
  std::vector<double> inv_cols(static_cast<size_t>(P));
  for (int64_t o = 0; o < P; ++o) inv_cols[o] = 1.0 / static_cast<double>(hi[o] - lo[o]);
  // For each row bin: add its rows column-wise (a straight, vectorisable pass over the bytes),
  // then sum each column bin of that. Rows past H and columns past W are the zero padding.
  // 16-bit column sums: a row bin spans at most ceil(S/P) + 1 rows, far below 65536.
  std::vector<uint16_t> colsum(static_cast<size_t>(W));
  for (int64_t oy = 0; oy < P; ++oy) {
    std::fill(colsum.begin(), colsum.end(), uint16_t{0});
    uint16_t* __restrict cs = colsum.data();  // bytes may alias anything: promise they don't
    uint8_t any = 0;
    for (int64_t y = lo[oy]; y < std::min(hi[oy], H); ++y) {
      const uint8_t* __restrict r = mask + y * W;
      // OR-reduce first (a byte loop that vectorises on its own), and only add rows that hold
      // any pixel: most rows of a proposal are empty.
      uint8_t row_any = 0;
      for (int64_t x = 0; x < W; ++x) row_any |= r[x];
      if (!row_any) continue;
      any = 1;
      for (int64_t x = 0; x < W; ++x) cs[x] = static_cast<uint16_t>(cs[x] + (r[x] != 0));
    }
    if (!any) {  // proposals are local: most row bins of a mask are empty, so skip their columns
      std::fill(w + oy * P, w + (oy + 1) * P, 0.0f);
      continue;
    }
    const double inv_rows = 1.0 / static_cast<double>(hi[oy] - lo[oy]);
    for (int64_t ox = 0; ox < P; ++ox) {
      uint32_t n = 0;
      for (int64_t x = xlo[ox]; x < xhi[ox]; ++x) n += colsum[x];
      w[oy * P + ox] = static_cast<float>(static_cast<double>(n) * inv_rows * inv_cols[ox]);
    }
  }
}

void mask_pool(const uint8_t* masks, int64_t K, int64_t H, int64_t W, const float* src, int64_t ng, int64_t d,
               int64_t P, bool pulled_back, float* out) {
  const auto taps = bilinear_taps(P, ng);
  const PullBack pull = pull_back(taps, ng);
  std::vector<float> up;  // the definition's upsampled map, only for the direct form
  if (!pulled_back) {
    up.assign(static_cast<size_t>(P * P * d), 0.0f);
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
  }
  parallel_for(0, K, 1, [&](int64_t k0, int64_t k1) {
    std::vector<float> w(static_cast<size_t>(P * P));
    std::vector<double> g(static_cast<size_t>(ng * ng)), row(static_cast<size_t>(ng));
    for (int64_t k = k0; k < k1; ++k) {
      area_weights(masks + k * H * W, H, W, P, w.data());
      double total = 0;
      for (float v : w) total += v;
      float* o = out + k * d;
      std::fill(o, o + d, 0.0f);
      const float norm = static_cast<float>(1.0 / (total + 1e-8));
      if (pulled_back) {
        // G = Uyᵀ·w·Ux, separably: each row of w goes through Ux (two taps per column), then
        // each of those rows is spread over two grid rows by Uy.
        std::fill(g.begin(), g.end(), 0.0);
        for (int64_t y = 0; y < P; ++y) {
          const float* wy = w.data() + y * P;
          bool any = false;
          // Gather (each grid column sums its own taps) rather than scatter: no store-to-load chains.
          for (int64_t j = 0; j < ng; ++j) {
            double acc = 0;
            for (int64_t t = pull.start[j]; t < pull.start[j + 1]; ++t) acc += wy[pull.x[t]] * pull.coef[t];
            row[j] = acc;
            any = any || acc != 0;
          }
          if (!any) continue;
          const Tap& ty = taps[y];
          double* g0 = g.data() + ty.i0 * ng;
          double* g1 = g.data() + ty.i1 * ng;
          for (int64_t j = 0; j < ng; ++j) {
            g0[j] += ty.l0 * row[j];
            g1[j] += ty.l1 * row[j];
          }
        }
        for (int64_t c = 0; c < ng * ng; ++c) {
          if (g[c] == 0) continue;
          const float gc = static_cast<float>(g[c]);
          const float* s = src + c * d;
          for (int64_t e = 0; e < d; ++e) o[e] += gc * s[e];
        }
      } else {
        for (int64_t p = 0; p < P * P; ++p) {
          if (w[p] == 0) continue;
          const float* u = up.data() + p * d;
          for (int64_t e = 0; e < d; ++e) o[e] += w[p] * u[e];
        }
      }
      for (int64_t e = 0; e < d; ++e) o[e] *= norm;
    }
  });
}

}  // namespace hrseg
