#include <algorithm>
#include <cmath>
#include <vector>

#include "hrseg/head_ops.h"
#include "hrseg/thread_pool.h"

namespace hrseg {

void region_attention(const float* xg, const float* xl, int64_t ng, int64_t N, int64_t d, const PackedWeight& wq,
                      const PackedWeight& wkv, float* fr) {
  const int64_t nl = N * ng;
  std::vector<float> q(static_cast<size_t>(ng * ng * d));
  std::vector<float> kv(static_cast<size_t>(nl * nl * 2 * d));
  linear(xg, ng * ng, wq, q.data());
  linear(xl, nl * nl, wkv, kv.data());  // one pass over X_l for both k and v
  const float scale = 1.0f / std::sqrt(static_cast<float>(d));
  parallel_for(0, ng * ng, 16, [&](int64_t c0, int64_t c1) {
    std::vector<float> p(static_cast<size_t>(N * N));
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t i = c / ng, j = c % ng;
      const float* qc = q.data() + c * d;
      float mx = -INFINITY;
      for (int64_t a = 0; a < N; ++a)
        for (int64_t b = 0; b < N; ++b) {
          const float* kr = kv.data() + ((N * i + a) * nl + (N * j + b)) * 2 * d;
          float s = 0;
          for (int64_t e = 0; e < d; ++e) s += qc[e] * kr[e];
          p[a * N + b] = s * scale;
          mx = std::max(mx, p[a * N + b]);
        }
      float z = 0;
      for (auto& v : p) z += (v = std::exp(v - mx));
      float* out = fr + c * d;
      std::fill(out, out + d, 0.0f);
      for (int64_t a = 0; a < N; ++a)
        for (int64_t b = 0; b < N; ++b) {
          const float* vr = kv.data() + ((N * i + a) * nl + (N * j + b)) * 2 * d + d;
          const float w = p[a * N + b] / z;
          for (int64_t e = 0; e < d; ++e) out[e] += w * vr[e];
        }
    }
  });
}

void hybrid_mix(const float* xg, const float* fr, int64_t n, float gamma, float* fh) {
  for (int64_t i = 0; i < n; ++i) fh[i] = gamma * xg[i] + (1.0f - gamma) * fr[i];
}

}  // namespace hrseg
