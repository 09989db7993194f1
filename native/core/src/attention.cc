#include <algorithm>
#include <cmath>
#include <vector>

#include "hrseg/head_ops.h"
#include "hrseg/thread_pool.h"

namespace hrseg {

void attention(const AttentionWeights& w, const float* xq, int64_t m, const float* xk, const float* xv, int64_t n,
               float* out) {
  const int64_t D = w.internal(), Dv = w.v.out(), h = w.heads;
  const int64_t dh = D / h, dvh = Dv / h;
  std::vector<float> q(static_cast<size_t>(m * D)), k(static_cast<size_t>(n * D)), v(static_cast<size_t>(n * Dv));
  linear(xq, m, w.q, q.data());
  linear(xk, n, w.k, k.data());
  linear(xv, n, w.v, v.data());
  // Per head, both products run through the packed GEMM: scores = (q·scale)·kᵀ, ctx = p·v.
  std::vector<float> ctx(static_cast<size_t>(m * Dv), 0.0f);
  const float scale = 1.0f / std::sqrt(static_cast<float>(dh));
  std::vector<float> qh(static_cast<size_t>(m * dh)), s(static_cast<size_t>(m * n)),
      ch(static_cast<size_t>(m * dvh));
  for (int64_t hd = 0; hd < h; ++hd) {
    for (int64_t i = 0; i < m; ++i)
      for (int64_t e = 0; e < dh; ++e) qh[i * dh + e] = q[i * D + hd * dh + e] * scale;
    linear(qh.data(), m, PackedWeight(k.data() + hd * dh, n, dh, D, 1), s.data());
    for (int64_t i = 0; i < m; ++i) {
      float* si = s.data() + i * n;
      float mx = -INFINITY;
      for (int64_t j = 0; j < n; ++j) mx = std::max(mx, si[j]);
      float z = 0;
      for (int64_t j = 0; j < n; ++j) z += (si[j] = std::exp(si[j] - mx));
      const float inv = 1.0f / z;
      for (int64_t j = 0; j < n; ++j) si[j] *= inv;
    }
    linear(s.data(), m, PackedWeight(v.data() + hd * dvh, dvh, n, 1, Dv), ch.data());
    for (int64_t i = 0; i < m; ++i)
      for (int64_t e = 0; e < dvh; ++e) ctx[i * Dv + hd * dvh + e] = ch[i * dvh + e];
  }
  if (w.out.empty()) std::copy(ctx.begin(), ctx.end(), out);
  else linear(ctx.data(), m, w.out, out);
}

void add_layer_norm(float* x, const float* a, int64_t rows, int64_t d, const float* gamma, const float* beta) {
  for (int64_t r = 0; r < rows; ++r) {
    float* xr = x + r * d;
    const float* ar = a + r * d;
    double mean = 0;
    for (int64_t e = 0; e < d; ++e) mean += (xr[e] += ar[e]);
    mean /= static_cast<double>(d);
    double var = 0;
    for (int64_t e = 0; e < d; ++e) var += (xr[e] - mean) * (xr[e] - mean);
    var /= static_cast<double>(d);
    const float inv = static_cast<float>(1.0 / std::sqrt(var + 1e-5));
    const float mu = static_cast<float>(mean);
    for (int64_t e = 0; e < d; ++e) xr[e] = (xr[e] - mu) * inv * gamma[e] + beta[e];
  }
}

void mlp2(const PackedWeight& l0, const PackedWeight& l1, const float* x, int64_t rows, float* out) {
  std::vector<float> hidden(static_cast<size_t>(rows * l0.out()));
  linear(x, rows, l0, hidden.data());
  for (auto& v : hidden) v = std::max(v, 0.0f);
  linear(hidden.data(), rows, l1, out);
}

float cosine(const float* a, const float* b, int64_t d) {
  double ab = 0, aa = 0, bb = 0;
  for (int64_t e = 0; e < d; ++e) {
    ab += static_cast<double>(a[e]) * b[e];
    aa += static_cast<double>(a[e]) * a[e];
    bb += static_cast<double>(b[e]) * b[e];
  }
  return static_cast<float>(ab / (std::max(std::sqrt(aa), 1e-8) * std::max(std::sqrt(bb), 1e-8)));
}

}  // namespace hrseg
