#include <algorithm>
#include <cmath>
#include <vector>

#include "hrseg/fast_exp.h"
#include "hrseg/head_ops.h"
#include "hrseg/scratch.h"
#include "hrseg/thread_pool.h"

namespace hrseg {

namespace {

// Σ a[e]·b[e] with eight partial sums, so the loop vectorises without reassociation flags.
float dot(const float* a, const float* b, int64_t d) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t e = 0;
  for (; e + 8 <= d; e += 8)
    for (int l = 0; l < 8; ++l) acc[l] += a[e + l] * b[e + l];
  for (; e < d; ++e) acc[0] += a[e] * b[e];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// One global cell's attention over its N×N window: key (a, b) is the row at
// keys + (a·pitch + b)·stride, its value `value_offset` floats further (0: the key itself);
// q·key·scale, softmax, out[len] = Σ p·value. p holds N² floats of scratch.
void attend_window(const float* q, const float* keys, int64_t pitch, int64_t stride, int64_t value_offset, int64_t N,
                   int64_t len, float scale, float* p, float* __restrict out) {
  float mx = -INFINITY;
  for (int64_t a = 0; a < N; ++a)
    for (int64_t b = 0; b < N; ++b) {
      p[a * N + b] = dot(q, keys + (a * pitch + b) * stride, len) * scale;
      mx = std::max(mx, p[a * N + b]);
    }
  float z = 0;
  for (int64_t t = 0; t < N * N; ++t) z += (p[t] = fast_exp(p[t] - mx));
  std::fill(out, out + len, 0.0f);
  for (int64_t a = 0; a < N; ++a)
    for (int64_t b = 0; b < N; ++b) {
      const float* __restrict v = keys + (a * pitch + b) * stride + value_offset;
      const float w = p[a * N + b] / z;
      for (int64_t e = 0; e < len; ++e) out[e] += w * v[e];
    }
}

}  // namespace

// The definition, one band at a time: global row i reads local rows N·i … N·i+N−1, which are
// contiguous, so each band's keys and values (a few hundred KiB) are made, used and dropped while
// they sit in L2.
void region_attention(const float* xg, const float* xl, int64_t ng, int64_t N, int64_t d, const PackedWeight& wq,
                      const PackedWeight& wkv, float* fr) {
  const int64_t nl = N * ng, band = N * nl;
  auto q = scratch<float>(static_cast<size_t>(ng * ng * d));
  linear(xg, ng * ng, wq, q.get());
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  parallel_for(0, ng, 1, [&](int64_t i0, int64_t i1) {
    auto kv = scratch<float>(static_cast<size_t>(band * 2 * d));
    std::vector<float> p(static_cast<size_t>(N * N));
    for (int64_t i = i0; i < i1; ++i) {
      linear_serial(xl + i * band * d, band, wkv, kv.get());  // one pass for both k and v
      for (int64_t j = 0; j < ng; ++j)  // keys and values side by side in kv: stride 2d, values at +d
        attend_window(q.get() + (i * ng + j) * d, kv.get() + N * j * 2 * d, nl, 2 * d, d, N, d, scale, p.data(),
                      fr + (i * ng + j) * d);
    }
  });
}

RegionFold fold_region_attention(const Affine64& input_proj, const Affine64& q, const Affine64& k, const Affine64& v) {
  RegionFold f;
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.out));
  f.query = pack(scaled(then(then(q, transposed(k)), transposed(input_proj)), scale));
  f.value = pack(then(input_proj, v));
  return f;
}

void region_attention_folded(const float* xg, const float* fl, int64_t ng, int64_t N, const RegionFold& f, float* fr) {
  const int64_t C = f.query.out(), nl = N * ng;
  auto qh = scratch<float>(static_cast<size_t>(ng * ng * C));
  auto mean = scratch<float>(static_cast<size_t>(ng * ng * C));
  linear(xg, ng * ng, f.query, qh.get());
  // One global row per task: its cells read N consecutive rows of the local grid.
  parallel_for(0, ng * ng, ng, [&](int64_t c0, int64_t c1) {
    std::vector<float> p(static_cast<size_t>(N * N));
    for (int64_t c = c0; c < c1; ++c) {  // the raw features are keys and values; q̂ carries 1/√d
      const int64_t i = c / ng, j = c % ng;
      attend_window(qh.get() + c * C, fl + (N * i * nl + N * j) * C, nl, C, 0, N, C, 1.0f, p.data(),
                    mean.get() + c * C);
    }
  });
  linear(mean.get(), ng * ng, f.value, fr);
}

void hybrid_mix(const float* xg, const float* fr, int64_t n, float gamma, float* fh) {
  for (int64_t i = 0; i < n; ++i) fh[i] = gamma * xg[i] + (1.0f - gamma) * fr[i];
}

}  // namespace hrseg
