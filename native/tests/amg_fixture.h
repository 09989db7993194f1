// SAM-like decoder output for benchmarks and GPU parity tests: smooth elliptical blobs with a soft
// edge and a little noise (real SAM logits look like this, not like white noise), and predicted
// IoUs spread over [0.6, 1] so that part of them pass SAM's 0.88.
#pragma once
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace check {

struct AmgBatchData {
  int64_t prompts = 0, per_prompt = 3, low = 256;
  std::vector<float> logits, iou, points;
};

inline AmgBatchData sam_like_logits(int64_t prompts, int64_t per_prompt, int64_t low, int64_t content_rows,
                                    int64_t width, int64_t height, uint64_t seed) {
  std::mt19937_64 g(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  AmgBatchData d;
  d.prompts = prompts;
  d.per_prompt = per_prompt;
  d.low = low;
  const int64_t n = prompts * per_prompt;
  d.logits.resize(static_cast<size_t>(n * low * low));
  d.iou.resize(static_cast<size_t>(n));
  d.points.resize(static_cast<size_t>(prompts * 2));
  const float s = static_cast<float>(low) / 256.0f;
  for (int64_t m = 0; m < n; ++m) {
    const float cx = u(g) * low, cy = u(g) * content_rows, rx = (4 + u(g) * 80) * s, ry = (4 + u(g) * 60) * s;
    const float slope = 4 + u(g) * 16;
    float* p = d.logits.data() + m * low * low;
    for (int64_t y = 0; y < low; ++y)
      for (int64_t x = 0; x < low; ++x) {
        const float r = std::hypot((x + 0.5f - cx) / rx, (y + 0.5f - cy) / ry);
        p[y * low + x] = slope * (1 - r) * std::min(rx, ry) * 0.25f + (u(g) - 0.5f) * 0.5f;
      }
    d.iou[m] = 0.6f + 0.4f * u(g);
  }
  for (int64_t i = 0; i < prompts; ++i) {
    d.points[i * 2] = u(g) * width;
    d.points[i * 2 + 1] = u(g) * height;
  }
  return d;
}

}  // namespace check
