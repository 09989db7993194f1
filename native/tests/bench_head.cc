// Native benchmark of the head at SPEC.md's default shapes (no Node needed):
//   build/native/tests/bench_head [iterations]
// Prints per-operation times and the image step's FLOP rate against the measured FMA peak.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "head_fixture.h"
#include "hrseg/linear.h"
#include "hrseg/thread_pool.h"

using namespace hrseg;
using Clock = std::chrono::steady_clock;

template <typename Fn>
static double median_ms(int iters, Fn&& fn) {
  fn();
  std::vector<double> t;
  for (int i = 0; i < iters; ++i) {
    auto t0 = Clock::now();
    fn();
    t.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

int main(int argc, char** argv) {
  const int iters = argc > 1 ? std::atoi(argv[1]) : 10;
  HeadConfig c;
  const int64_t ng = c.global_grid, nl = c.magnification * ng, d = c.dim, C = c.feature_dim;
  const int64_t K = 50, H = 768, W = 1024;
  auto bytes = check::encode_safetensors(check::random_head_weights(c));
  Head head(SafeTensors::borrow(bytes.data(), bytes.size(), "bench"), c);
  auto fg = check::uniform(static_cast<size_t>(ng * ng * C)), fl = check::uniform(static_cast<size_t>(nl * nl * C));
  auto masks = check::random_masks(K, H, W);
  auto hseg = check::uniform(static_cast<size_t>(c.hidden_size));
  // This VM's speed drifts (other tenants): the peak is measured in short bursts between image
  // steps, so both see the same conditions; medians and bests are both reported.
  ImageFeatures img = head.image_step(fg.data(), fl.data(), masks.data(), K, H, W, nullptr);
  std::vector<double> t_runs, peaks;
  for (int i = 0; i < iters; ++i) {
    peaks.push_back(measure_fma_peak(num_threads(), 0.1));
    auto t0 = Clock::now();
    img = head.image_step(fg.data(), fl.data(), masks.data(), K, H, W, nullptr);
    t_runs.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::sort(t_runs.begin(), t_runs.end());
  std::sort(peaks.begin(), peaks.end());
  const double t_image = t_runs[t_runs.size() / 2], t_best = t_runs.front();
  const double peak = peaks[peaks.size() / 2], peak_best = peaks.back();
  const double t_instr = median_ms(iters, [&] {
    head.instruction_step(img.m_hre.as<float>(), K, hseg.data(), 1, masks.data(), H, W, SelectionOverride{}, nullptr);
  });
  // The pieces, for where the time goes.
  std::vector<float> xl(static_cast<size_t>(nl * nl * d));
  PackedWeight proj(check::uniform(static_cast<size_t>(d * C)).data(), nullptr, d, C);
  const double t_proj = median_ms(iters, [&] { linear(fl.data(), nl * nl, proj, xl.data()); });
  std::vector<float> kvout(static_cast<size_t>(ng * ng * 2 * d));
  PackedWeight kvw(check::uniform(static_cast<size_t>(2 * d * d)).data(), nullptr, 2 * d, d);
  const double t_kv = median_ms(iters, [&] { linear(img.hybrid.as<float>(), ng * ng, kvw, kvout.data()); });
  // The [SEG] text projection (one row through 4096x4096), from f32 and from bf16 weights.
  const int64_t Hs = c.hidden_size;
  auto wt = check::uniform(static_cast<size_t>(Hs * Hs));
  std::vector<uint16_t> wt16(wt.size());
  for (size_t i = 0; i < wt.size(); ++i) {
    uint32_t u;
    std::memcpy(&u, &wt[i], 4);
    wt16[i] = static_cast<uint16_t>(u >> 16);
  }
  const PackedWeight text32(wt.data(), nullptr, Hs, Hs);
  const PackedWeight text16 = PackedWeight::from_stored(wt16.data(), DType::BF16, nullptr, Hs, Hs);
  std::vector<float> tout(static_cast<size_t>(Hs));
  const double t_text32 = median_ms(iters, [&] { linear(hseg.data(), 1, text32, tout.data()); });
  const double t_text16 = median_ms(iters, [&] { linear(hseg.data(), 1, text16, tout.data()); });
  std::vector<float> pooled(static_cast<size_t>(K * d));
  const double t_pool = median_ms(iters, [&] {
    mask_pool(masks.data(), K, H, W, img.hybrid.as<float>(), ng, d, c.pool_size, c.mask_resize, true, pooled.data());
  });
  // FLOPs of the image step as SPEC defines it (what ONNX Runtime runs in test/bench/head.bench.ts),
  // and the FLOPs this implementation executes after folding the attentions (head_ops.h).
  const double h = static_cast<double>(c.hre_heads), NN = static_cast<double>(c.magnification * c.magnification);
  const double nominal = 2.0 * (ng * ng + nl * nl) * C * d + 2.0 * ng * ng * d * d + 2.0 * nl * nl * d * 2 * d +
                         4.0 * ng * ng * NN * d + 2.0 * K * ng * ng * d +
                         c.hre_layers * (2.0 * K * d * d + 4.0 * ng * ng * d * d + 4.0 * K * ng * ng * d);
  const double executed = 2.0 * ng * ng * C * d     // X_g
                          + 2.0 * ng * ng * d * C   // region query carried to the raw features
                          + 4.0 * ng * ng * NN * C  // scores and weighted means over raw features
                          + 2.0 * ng * ng * C * d   // region values, projected once
                          + 2.0 * K * ng * ng * d   // pooling, G·F_h
                          + c.hre_layers * (2.0 * K * d * h * d + 4.0 * K * ng * ng * d * h + 2.0 * K * d * d * h);
  auto row = [&](const char* what, double ms, double pk) {
    std::printf("%-34s %8.2f ms  executed %6.1f GFLOP/s = %5.1f %% of peak | SPEC-equivalent %6.1f GFLOP/s\n", what, ms,
                executed / ms / 1e6, 100 * executed / ms / 1e6 / (pk / 1e9), nominal / ms / 1e6);
  };
  std::printf("threads %d, kernel %s, fp32 FMA peak %.1f GFLOP/s (median of %d bursts), best %.1f\n", num_threads(),
              linear_kernel_name(), peak / 1e9, iters, peak_best / 1e9);
  std::printf("image step FLOPs: SPEC definition %.2f G, executed after folding %.2f G\n", nominal / 1e9,
              executed / 1e9);
  row("image step (median)", t_image, peak);
  row("image step (best run)", t_best, peak_best);
  std::printf("%-34s %8.2f ms\n", "instruction step (median)", t_instr);
  std::printf("%-34s %8.2f ms  %6.1f GFLOP/s = %5.1f %% of peak\n", "  GEMM probe 5476x1024 -> 256", t_proj,
              2.0 * nl * nl * C * d / t_proj / 1e6, 100 * 2.0 * nl * nl * C * d / t_proj / 1e6 / (peak / 1e9));
  std::printf("%-34s %8.2f ms  %6.1f GFLOP/s\n", "  GEMM probe 1369x256 -> 512", t_kv,
              2.0 * ng * ng * d * 2 * d / t_kv / 1e6);
  std::printf("%-34s %8.2f ms\n", "  mask pooling (K 50, 1024x768)", t_pool);
  std::printf("%-34s %8.2f ms from f32, %.2f ms from bf16 (%.2fx)\n", "  text projection 1x4096 -> 4096", t_text32,
              t_text16, t_text32 / t_text16);
  return 0;
}
