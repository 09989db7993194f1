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
      for (int64_t j = 0; j < ng; ++j) {
        const int64_t c = i * ng + j;
        const float* qc = q.get() + c * d;
        float mx = -INFINITY;
        for (int64_t a = 0; a < N; ++a)
          for (int64_t b = 0; b < N; ++b) {
            const float* kr = kv.get() + (a * nl + N * j + b) * 2 * d;
            p[a * N + b] = dot(qc, kr, d) * scale;
            mx = std::max(mx, p[a * N + b]);
          }
        float z = 0;
        for (auto& v : p) z += (v = fast_exp(v - mx));
        float* __restrict out = fr + c * d;
        std::fill(out, out + d, 0.0f);
        for (int64_t a = 0; a < N; ++a)
          for (int64_t b = 0; b < N; ++b) {
            const float* __restrict vr = kv.get() + (a * nl + N * j + b) * 2 * d + d;
            const float w = p[a * N + b] / z;
            for (int64_t e = 0; e < d; ++e) out[e] += w * vr[e];
          }
      }
    }
  });
}

RegionFold fold_region_attention(const Affine64& input_proj, const Affine64& q, const Affine64& k, const Affine64& v) {
  RegionFold f;
  Affine64 query = then(then(q, transposed(k)), transposed(input_proj));
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.out));
  for (double& x : query.w) x *= scale;
  for (double& x : query.b) x *= scale;
  f.query = pack(query);
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
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t i = c / ng, j = c % ng;
      const float* qc = qh.get() + c * C;
      float mx = -INFINITY;
      for (int64_t a = 0; a < N; ++a)
        for (int64_t b = 0; b < N; ++b) {
          p[a * N + b] = dot(qc, fl + ((N * i + a) * nl + N * j + b) * C, C);
          mx = std::max(mx, p[a * N + b]);
        }
      float z = 0;
      for (auto& x : p) z += (x = fast_exp(x - mx));
      float* __restrict m = mean.get() + c * C;
      std::fill(m, m + C, 0.0f);
      for (int64_t a = 0; a < N; ++a)
        for (int64_t b = 0; b < N; ++b) {
          const float* __restrict src = fl + ((N * i + a) * nl + N * j + b) * C;
          const float w = p[a * N + b] / z;
          for (int64_t e = 0; e < C; ++e) m[e] += w * src[e];
        }
    }
  });
  linear(mean.get(), ng * ng, f.value, fr);
}

void hybrid_mix(const float* xg, const float* fr, int64_t n, float gamma, float* fh) {
  for (int64_t i = 0; i < n; ++i) fh[i] = gamma * xg[i] + (1.0f - gamma) * fr[i];
}

}  // namespace hrseg
