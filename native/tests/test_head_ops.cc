// Each head operation of native/core against a float64 reference written here from SPEC.md, on
// fresh random inputs. (The TypeScript suite checks the whole head against its own reference.)
#include <cmath>
#include <cstring>

#include "check.h"
#include "head_fixture.h"
#include "hrseg/fast_exp.h"
#include "hrseg/head_ops.h"
#include "random.h"

using namespace hrseg;

static std::vector<double> ref_linear(const std::vector<float>& x, int64_t rows, const std::vector<float>& w, int64_t out, int64_t in) {
  std::vector<double> y(rows * out, 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o)
      for (int64_t i = 0; i < in; ++i) y[r * out + o] += static_cast<double>(x[r * in + i]) * w[o * in + i];
  return y;
}

TEST("region attention matches the definition for N = 1, 2, 3 and odd grids, from X_l or from raw features") {
  for (int64_t N : {1, 2, 3}) {
    const int64_t ng = check::randint(1, 6), d = 8 * check::randint(1, 3), nl = N * ng, C = check::randint(1, 40);
    auto xg = check::uniform(ng * ng * d), fl = check::uniform(nl * nl * C), wp = check::uniform(d * C);
    auto wq = check::uniform(d * d), wk = check::uniform(d * d), wv = check::uniform(d * d);
    std::vector<float> wkv(wk);
    wkv.insert(wkv.end(), wv.begin(), wv.end());
    // X_l for the direct form: the projection of fl, computed in float64 and rounded once.
    const auto xl64 = ref_linear(fl, nl * nl, wp, d, C);
    const std::vector<float> xl(xl64.begin(), xl64.end());
    auto q = ref_linear(xg, ng * ng, wq, d, d), k = ref_linear(xl, nl * nl, wk, d, d), v = ref_linear(xl, nl * nl, wv, d, d);
    std::vector<double> want(ng * ng * d, 0.0);
    for (int64_t i = 0; i < ng; ++i)
      for (int64_t j = 0; j < ng; ++j) {
        std::vector<double> s;
        std::vector<int64_t> cells;
        for (int64_t a = 0; a < N; ++a)
          for (int64_t b = 0; b < N; ++b) cells.push_back((N * i + a) * nl + N * j + b);
        double mx = -1e300, z = 0;
        for (int64_t c : cells) {
          double dot = 0;
          for (int64_t e = 0; e < d; ++e) dot += q[(i * ng + j) * d + e] * k[c * d + e];
          s.push_back(dot / std::sqrt(static_cast<double>(d)));
          mx = std::max(mx, s.back());
        }
        for (double& x : s) z += (x = std::exp(x - mx));
        for (size_t n = 0; n < cells.size(); ++n)
          for (int64_t e = 0; e < d; ++e) want[(i * ng + j) * d + e] += s[n] / z * v[cells[n] * d + e];
      }
    const PackedWeight pq(wq.data(), nullptr, d, d), pkv(wkv.data(), nullptr, 2 * d, d);
    std::vector<float> fr(ng * ng * d, 1e30f), fr_local(ng * ng * d, 1e30f);
    region_attention(xg.data(), xl.data(), ng, N, d, pq, pkv, fr.data());
    CHECK(check::rel_error(fr, want) < 1e-5);
    region_attention_local(xg.data(), fl.data(), PackedWeight(wp.data(), nullptr, d, C), ng, N, d, pq, pkv,
                           fr_local.data());
    CHECK(check::rel_error(fr_local, want) < 1e-5);
  }
}

TEST("area weights follow adaptive-average bins over the padded square frame") {
  for (int rep = 0; rep < 6; ++rep) {
    const int64_t H = check::randint(1, 40), W = check::randint(1, 40), P = check::randint(1, 24);
    auto masks = check::random_masks(1, H, W);
    std::vector<float> w(P * P);
    area_weights(masks.data(), H, W, P, w.data());
    const int64_t S = std::max(H, W);
    std::vector<double> want(P * P);
    for (int64_t oy = 0; oy < P; ++oy)
      for (int64_t ox = 0; ox < P; ++ox) {
        const int64_t y0 = oy * S / P, y1 = ((oy + 1) * S + P - 1) / P, x0 = ox * S / P, x1 = ((ox + 1) * S + P - 1) / P;
        double n = 0;
        for (int64_t y = y0; y < y1; ++y)
          for (int64_t x = x0; x < x1; ++x) n += (y < H && x < W && masks[y * W + x]) ? 1 : 0;
        want[oy * P + ox] = n / static_cast<double>((y1 - y0) * (x1 - x0));
      }
    CHECK(check::rel_error(w, want) < 1e-6);
  }
}

TEST("mask pooling: pulled-back and direct forms agree, empty masks give zeros") {
  const int64_t ng = 7, d = 16, P = 32, K = 5, H = 21, W = 30;
  auto src = check::uniform(ng * ng * d);
  auto masks = check::random_masks(K, H, W);
  std::fill(masks.begin() + 2 * H * W, masks.begin() + 3 * H * W, uint8_t{0});  // proposal 2 empty
  std::vector<float> a(K * d), b(K * d);
  mask_pool(masks.data(), K, H, W, src.data(), ng, d, P, true, a.data());
  mask_pool(masks.data(), K, H, W, src.data(), ng, d, P, false, b.data());
  CHECK(check::rel_error(a, b) < 1e-5);
  for (int64_t e = 0; e < d; ++e) CHECK_EQ(a[2 * d + e], 0.0f);
}

TEST("multi-head attention with output projection matches the definition") {
  const int64_t m = 5, n = 9, d = 12, heads = 3;
  AttentionWeights w;
  auto wq = check::uniform(d * d), wk = check::uniform(d * d), wv = check::uniform(d * d), wo = check::uniform(d * d);
  w.q = PackedWeight(wq.data(), nullptr, d, d);
  w.k = PackedWeight(wk.data(), nullptr, d, d);
  w.v = PackedWeight(wv.data(), nullptr, d, d);
  w.out = PackedWeight(wo.data(), nullptr, d, d);
  w.heads = heads;
  auto xq = check::uniform(m * d), xk = check::uniform(n * d);
  std::vector<float> out(m * d);
  attention(w, xq.data(), m, xk.data(), xk.data(), n, out.data());
  auto q = ref_linear(xq, m, wq, d, d), k = ref_linear(xk, n, wk, d, d), v = ref_linear(xk, n, wv, d, d);
  const int64_t dh = d / heads;
  std::vector<float> ctx(m * d);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t h = 0; h < heads; ++h) {
      std::vector<double> s(n);
      double mx = -1e300, z = 0;
      for (int64_t j = 0; j < n; ++j) {
        double dot = 0;
        for (int64_t e = 0; e < dh; ++e) dot += q[i * d + h * dh + e] * k[j * d + h * dh + e];
        s[j] = dot / std::sqrt(static_cast<double>(dh));
        mx = std::max(mx, s[j]);
      }
      for (double& x : s) z += (x = std::exp(x - mx));
      for (int64_t e = 0; e < dh; ++e) {
        double acc = 0;
        for (int64_t j = 0; j < n; ++j) acc += s[j] / z * v[j * d + h * dh + e];
        ctx[i * d + h * dh + e] = static_cast<float>(acc);
      }
    }
  CHECK(check::rel_error(out, ref_linear(ctx, m, wo, d, d)) < 1e-5);
  // The stacked k|v path (one pass over a shared source; d = 12 is not a panel multiple) agrees.
  w.kv = PackedWeight::stack(w.k, w.v);
  CHECK_EQ(w.kv.out(), 2 * d);
  std::vector<float> fused(m * d);
  attention(w, xq.data(), m, xk.data(), xk.data(), n, fused.data());
  CHECK(check::rel_error(fused, ref_linear(ctx, m, wo, d, d)) < 1e-5);
}

TEST("linear reads a column slice of a wider matrix in place (ldx)") {
  const int64_t rows = 13, in = 20, out = 7, ldx = 33, off = 5;
  auto x = check::uniform(rows * ldx), wt = check::uniform(out * in), b = check::uniform(out);
  std::vector<float> slice(rows * in), y(rows * out);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < in; ++k) slice[r * in + k] = x[r * ldx + off + k];
  linear(x.data() + off, rows, PackedWeight(wt.data(), b.data(), out, in), y.data(), ldx);
  auto want = ref_linear(slice, rows, wt, out, in);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o) want[r * out + o] += b[o];
  CHECK(check::rel_error(y, want) < 1e-5);
}

TEST("fast_exp matches exp to 3e-7 relative on [-87, 88], clamps outside, keeps NaN") {
  double worst = 0;
  for (float x : check::uniform(200000, -87.0f, 88.0f)) {
    const double want = std::exp(static_cast<double>(x));
    worst = std::max(worst, std::fabs(fast_exp(x) - want) / want);
  }
  CHECK(worst < 3e-7);
  CHECK(fast_exp(0.0f) == 1.0f);
  CHECK(fast_exp(-1000.0f) >= 0.0f && fast_exp(-1000.0f) < 1e-37f);
  CHECK(std::isfinite(fast_exp(1000.0f)));
  CHECK(std::isnan(fast_exp(NAN)));
}

TEST("add_layer_norm normalises x + a with affine parameters") {
  const int64_t rows = 3, d = 10;
  auto x = check::uniform(rows * d), a = check::uniform(rows * d), g = check::uniform(d), b = check::uniform(d);
  std::vector<double> want(rows * d);
  for (int64_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (int64_t e = 0; e < d; ++e) mean += double(x[r * d + e]) + a[r * d + e];
    mean /= d;
    for (int64_t e = 0; e < d; ++e) var += std::pow(double(x[r * d + e]) + a[r * d + e] - mean, 2);
    var /= d;
    for (int64_t e = 0; e < d; ++e) want[r * d + e] = (double(x[r * d + e]) + a[r * d + e] - mean) / std::sqrt(var + 1e-5) * g[e] + b[e];
  }
  add_layer_norm(x.data(), a.data(), rows, d, g.data(), b.data());
  CHECK(check::rel_error(x, want) < 1e-5);
}

TEST("selection strategies, ties, fallback and the union of masks") {
  const float sim[] = {0.1f, 0.9f, 0.5f, 0.9f, -0.2f};
  const float iop[] = {0.95f, 0.2f, 0.8f, 0.6f, 0.99f};
  auto sel = [&](Strategy s, int64_t k, float tau) { return select_proposals(sim, iop, 5, s, k, tau); };
  CHECK(sel(Strategy::Top1Sim, 1, 0.7f).chosen == std::vector<int64_t>{1});  // tie: lower index
  CHECK(sel(Strategy::Top1Iop, 1, 0.7f).chosen == std::vector<int64_t>{4});
  CHECK(sel(Strategy::IopThreshold, 1, 0.7f).chosen == (std::vector<int64_t>{0, 2, 4}));
  CHECK(sel(Strategy::TopkSim, 3, 0.7f).chosen == (std::vector<int64_t>{1, 2, 3}));
  CHECK(sel(Strategy::TopkSimIop, 3, 0.7f).chosen == std::vector<int64_t>{2});
  auto fb = sel(Strategy::TopkSimIop, 2, 0.7f);  // top-2 by sim are 1 and 3, neither above τ
  CHECK(fb.fallback);
  CHECK(fb.chosen == std::vector<int64_t>{1});
  CHECK(sel(Strategy::TopkSim, 99, 0.7f).chosen.size() == 5u);
  CHECK(select_proposals(sim, iop, 0, Strategy::Top1Sim, 1, 0.7f).chosen.empty());
  const uint8_t masks[] = {1, 0, 0, 0, /**/ 0, 1, 0, 0, /**/ 0, 0, 0, 1};
  uint8_t out[4];
  union_masks(masks, 2, 2, {0, 2}, out);
  CHECK(out[0] == 1 && out[1] == 0 && out[2] == 0 && out[3] == 1);
  const float a[] = {1, 0, 0}, b[] = {2, 0, 0}, z[] = {0, 0, 0};
  CHECK(std::abs(cosine(a, b, 3) - 1.0f) < 1e-7f);
  CHECK_EQ(cosine(a, z, 3), 0.0f);
}

TEST_MAIN()
