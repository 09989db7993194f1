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

}  // namespace

void area_weights(const uint8_t* mask, int64_t H, int64_t W, int64_t P, float* w) {
  const int64_t S = std::max(H, W);
  auto bin = [&](int64_t o, int64_t& b, int64_t& e) {
    b = (o * S) / P;                 // floor(o·S/P)
    e = ((o + 1) * S + P - 1) / P;   // ceil((o+1)·S/P)
  };
  // Per image row, the count of set pixels in every x-bin (prefix sums make each bin O(1)).
  std::vector<int32_t> prefix(static_cast<size_t>(W + 1));
  std::vector<int32_t> rows(static_cast<size_t>(H * P));
  for (int64_t y = 0; y < H; ++y) {
    const uint8_t* r = mask + y * W;
    prefix[0] = 0;
    for (int64_t x = 0; x < W; ++x) prefix[x + 1] = prefix[x] + (r[x] != 0);
    for (int64_t o = 0; o < P; ++o) {
      int64_t b, e;
      bin(o, b, e);
      rows[y * P + o] = prefix[std::min(e, W)] - prefix[std::min(b, W)];
    }
  }
  for (int64_t oy = 0; oy < P; ++oy) {
    int64_t by, ey;
    bin(oy, by, ey);
    for (int64_t ox = 0; ox < P; ++ox) {
      int64_t bx, ex;
      bin(ox, bx, ex);
      int64_t count = 0;
      for (int64_t y = by; y < std::min(ey, H); ++y) count += rows[y * P + ox];
      w[oy * P + ox] = static_cast<float>(static_cast<double>(count) / static_cast<double>((ey - by) * (ex - bx)));
    }
  }
}

void mask_pool(const uint8_t* masks, int64_t K, int64_t H, int64_t W, const float* src, int64_t ng, int64_t d,
               int64_t P, bool pulled_back, float* out) {
  const auto taps = bilinear_taps(P, ng);
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
    std::vector<double> g(static_cast<size_t>(ng * ng));
    for (int64_t k = k0; k < k1; ++k) {
      area_weights(masks + k * H * W, H, W, P, w.data());
      double total = 0;
      for (float v : w) total += v;
      float* o = out + k * d;
      std::fill(o, o + d, 0.0f);
      const float norm = static_cast<float>(1.0 / (total + 1e-8));
      if (pulled_back) {
        // G = Uyᵀ·w·Ux: each P×P weight lands on (at most) four grid cells.
        std::fill(g.begin(), g.end(), 0.0);
        for (int64_t y = 0; y < P; ++y) {
          const Tap& ty = taps[y];
          for (int64_t x = 0; x < P; ++x) {
            const double v = w[y * P + x];
            if (v == 0) continue;
            const Tap& tx = taps[x];
            g[ty.i0 * ng + tx.i0] += v * ty.l0 * tx.l0;
            g[ty.i0 * ng + tx.i1] += v * ty.l0 * tx.l1;
            g[ty.i1 * ng + tx.i0] += v * ty.l1 * tx.l0;
            g[ty.i1 * ng + tx.i1] += v * ty.l1 * tx.l1;
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
