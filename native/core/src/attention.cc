#include <algorithm>
#include <cmath>
#include <vector>

#include "hrseg/fast_exp.h"
#include "hrseg/head_ops.h"
#include "hrseg/scratch.h"
#include "hrseg/thread_pool.h"

namespace hrseg {

namespace {

// Softmax over the keys of each query, given the scores transposed (st [n, m]: the GEMM makes
// them that way so that the n keys are its rows). Swept row by row so the loops run along
// contiguous memory; the last sweep writes p [m, n] untransposed, ready to multiply the values.
void softmax_columns(float* st, int64_t n, int64_t m, float* p) {
  std::vector<float> mx(static_cast<size_t>(m), -INFINITY), z(static_cast<size_t>(m), 0.0f);
  for (int64_t j = 0; j < n; ++j) {
    const float* r = st + j * m;
    for (int64_t i = 0; i < m; ++i) mx[i] = std::max(mx[i], r[i]);
  }
  for (int64_t j = 0; j < n; ++j) {
    float* r = st + j * m;
    for (int64_t i = 0; i < m; ++i) z[i] += (r[i] = fast_exp(r[i] - mx[i]));
  }
  for (int64_t i = 0; i < m; ++i) z[i] = 1.0f / z[i];
  for (int64_t j = 0; j < n; ++j) {
    const float* r = st + j * m;
    for (int64_t i = 0; i < m; ++i) p[i * n + j] = r[i] * z[i];
  }
}

}  // namespace

void attention(const AttentionWeights& w, const float* xq, int64_t m, const float* xk, const float* xv, int64_t n,
               float* out) {
  const int64_t D = w.internal(), Dv = w.v.out(), h = w.heads;
  const int64_t dh = D / h, dvh = Dv / h;
  auto q = scratch<float>(static_cast<size_t>(m * D));
  linear(xq, m, w.q, q.get());
  // Keys and values: one pass over the source when they share it (HRE, self-attention).
  auto kv = scratch<float>(static_cast<size_t>(n * (D + Dv)));
  const float *k, *v;
  int64_t ldk, ldv;
  if (xk == xv && !w.kv.empty()) {
    linear(xk, n, w.kv, kv.get());
    k = kv.get(), v = kv.get() + D, ldk = ldv = D + Dv;
  } else {
    linear(xk, n, w.k, kv.get());
    linear(xv, n, w.v, kv.get() + n * D);
    k = kv.get(), v = kv.get() + n * D, ldk = D, ldv = Dv;
  }
  // Per head, both products run through the GEMM. The scores are made transposed, sᵀ = k·(q·scale)ᵀ,
  // so the n keys are the GEMM's rows, read in place and split across cores, and only the m
  // queries (few) are packed; ctx = p·v then packs v, a plain copy of 16-float rows.
  std::vector<float> ctx(static_cast<size_t>(m * Dv));
  const float scale = 1.0f / std::sqrt(static_cast<float>(dh));
  auto st = scratch<float>(static_cast<size_t>(n * m));
  auto s = scratch<float>(static_cast<size_t>(m * n));
  std::vector<float> qh(static_cast<size_t>(m * dh)), ch(static_cast<size_t>(m * dvh));
  for (int64_t hd = 0; hd < h; ++hd) {
    for (int64_t i = 0; i < m; ++i)
      for (int64_t e = 0; e < dh; ++e) qh[i * dh + e] = q[i * D + hd * dh + e] * scale;
    linear(k + hd * dh, n, PackedWeight(qh.data(), nullptr, m, dh), st.get(), ldk);
    softmax_columns(st.get(), n, m, s.get());
    linear(s.get(), m, PackedWeight(v + hd * dvh, dvh, n, 1, ldv), ch.data());
    for (int64_t i = 0; i < m; ++i)
      for (int64_t e = 0; e < dvh; ++e) ctx[i * Dv + hd * dvh + e] = ch[i * dvh + e];
  }
  if (w.out.empty())
    std::copy(ctx.begin(), ctx.end(), out);
  else
    linear(ctx.data(), m, w.out, out);
}

FoldedAttention fold_attention(const Affine64& q, const Affine64& k, const Affine64& v, const Affine64* out,
                               int64_t heads) {
  FoldedAttention f;
  const int64_t D = q.out, dh = D / heads;
  f.heads = heads;
  f.dim = k.in;
  Affine64 query;
  query.out = heads * k.in, query.in = q.in;
  const double scale = 1.0 / std::sqrt(static_cast<double>(dh));
  for (int64_t hd = 0; hd < heads; ++hd) {
    const Affine64 qk =
        scaled(then(rows(q, hd * dh, (hd + 1) * dh), transposed(rows(k, hd * dh, (hd + 1) * dh))), scale);
    query.w.insert(query.w.end(), qk.w.begin(), qk.w.end());
    query.b.insert(query.b.end(), qk.b.begin(), qk.b.end());
  }
  f.query = pack(query);
  f.value = pack(v);
  if (out) f.out = pack(*out);
  return f;
}

void attention_folded(const FoldedAttention& w, const float* xq, int64_t m, const float* x,
                      const PackedWeight& x_packed, int64_t n, float* out) {
  const int64_t h = w.heads, d = w.dim, Dv = w.value.out(), dvh = Dv / h;
  auto q = scratch<float>(static_cast<size_t>(m * h * d));
  linear(xq, m, w.query, q.get());
  auto st = scratch<float>(static_cast<size_t>(n * m));
  auto p = scratch<float>(static_cast<size_t>(m * n));
  std::vector<float> mean(static_cast<size_t>(m * d)), v(static_cast<size_t>(m * Dv)), ctx(static_cast<size_t>(m * Dv));
  for (int64_t hd = 0; hd < h; ++hd) {
    // Scores transposed, sᵀ = x·q̂ₕᵀ: the n source rows are the GEMM's rows, read in place.
    linear(x, n, PackedWeight(q.get() + hd * d, m, d, h * d, 1), st.get());
    softmax_columns(st.get(), n, m, p.get());
    linear(p.get(), m, x_packed, mean.data());  // Σ p·x, one row per query
    linear(mean.data(), m, w.value, v.data());  // projected once, after the sum
    for (int64_t i = 0; i < m; ++i)
      for (int64_t e = 0; e < dvh; ++e) ctx[i * Dv + hd * dvh + e] = v[i * Dv + hd * dvh + e];
  }
  if (w.out.empty())
    std::copy(ctx.begin(), ctx.end(), out);
  else
    linear(ctx.data(), m, w.out, out);
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
