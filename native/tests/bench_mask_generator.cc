// Native benchmark of the mask generator's post-processing at real shapes (no Node needed):
//   build/native/tests/bench_mask_generator [iterations] [height] [width] [noise]
// 1024 prompts × 3 masks of 256² logits in batches of 64, SAM's default settings. With `noise`, the
// logits are white noise around the threshold and every filter is off, as from a package with random
// weights (bench:pipeline's): every tile is mixed, the worst case of the tile skipping.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "amg_fixture.h"
#include "hrseg/mask_generator.h"
#include "hrseg/resample.h"
#include "hrseg/thread_pool.h"

using namespace hrseg;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  const int iters = argc > 1 ? std::atoi(argv[1]) : 5;
  const int64_t H = argc > 2 ? std::atoll(argv[2]) : 768, W = argc > 3 ? std::atoll(argv[3]) : 1024;
  const int64_t prompts = 1024, per = 3, low = 256, batch = 64;
  const int64_t content_rows = scaled_side(H, std::max(H, W), low);
  const bool noise = argc > 4 && std::string(argv[4]) == "noise";
  auto data = check::sam_like_logits(prompts, per, low, content_rows, W, H, 11);
  MaskGeneratorConfig config;
  if (noise) {
    std::mt19937 rng(12);
    std::uniform_real_distribution<float> d(-1.0f, 1.0f);
    for (float& v : data.logits) v = d(rng);
    config.pred_iou_threshold = -1e9;
    config.stability_threshold = 0;
  }
  MaskGeometry geo;
  geo.height = H;
  geo.width = W;
  std::vector<double> times;
  Proposals p;
  for (int it = 0; it <= iters; ++it) {
    const auto t0 = Clock::now();
    MaskGenerator gen(config, geo);
    for (int64_t b = 0; b < prompts; b += batch)
      gen.add_batch(data.logits.data() + b * per * low * low, data.iou.data() + b * per, data.points.data() + b * 2,
                    batch, per);
    p = gen.finish();
    if (it > 0) times.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  std::printf("mask generator post-processing, %lldx%lld, 1024 prompts x 3 masks of 256^2%s, %d threads\n",
              static_cast<long long>(W), static_cast<long long>(H), noise ? " (white noise, filters off)" : "",
              num_threads());
  std::printf("  evaluated %lld, passed IoU %lld, passed stability %lld, after NMS %lld, kept %lld\n",
              static_cast<long long>(p.evaluated), static_cast<long long>(p.passed_iou),
              static_cast<long long>(p.passed_stability), static_cast<long long>(p.after_nms),
              static_cast<long long>(p.masks.dims[0]));
  std::printf("  median %.1f ms (min %.1f, max %.1f, %d runs)\n", times[times.size() / 2], times.front(), times.back(),
              iters);
  return 0;
}
