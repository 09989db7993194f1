// The mask generator against a dense evaluation of the same rule (every pixel of every mask,
// two-stage resize as SAM does it) on random blob-shaped logits over many geometries. The
// independent float64 reference of SPEC.md lives in test/reference/amg-reference.ts; this one
// runs without Node (for sanitizers and the GPU parity tests) and checks the tile logic.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "amg_fixture.h"
#include "check.h"
#include "hrseg/box_nms.h"
#include "hrseg/error.h"
#include "hrseg/mask_generator.h"
#include "hrseg/resample.h"
#include "random.h"

using namespace hrseg;

namespace {

// Two-stage dense upsampling: low → frame (2-D, torch bilinear), crop, → H × W.
std::vector<double> dense(const float* L, int64_t low, int64_t frame, int64_t H, int64_t W) {
  const int64_t longest = std::max(H, W);
  const int64_t ch = std::max<int64_t>(1, scaled_side(H, longest, frame)),
                cw = std::max<int64_t>(1, scaled_side(W, longest, frame));
  auto resize = [](const std::vector<double>& in, int64_t ih, int64_t iw, int64_t oh, int64_t ow) {
    const Taps ty = resample_taps(ih, oh, Filter::BilinearTorch), tx = resample_taps(iw, ow, Filter::BilinearTorch);
    std::vector<double> out(oh * ow, 0.0);
    for (int64_t y = 0; y < oh; ++y)
      for (int64_t x = 0; x < ow; ++x) {
        double v = 0;
        for (int64_t i = 0; i < ty.count[y]; ++i)
          for (int64_t j = 0; j < tx.count[x]; ++j)
            v += ty.weight(y, i) * tx.weight(x, j) * in[(ty.first[y] + i) * iw + tx.first[x] + j];
        out[y * ow + x] = v;
      }
    return out;
  };
  std::vector<double> l(L, L + low * low);
  auto f = resize(l, low, low, frame, frame);
  std::vector<double> crop(ch * cw);
  for (int64_t y = 0; y < ch; ++y)
    for (int64_t x = 0; x < cw; ++x) crop[y * cw + x] = f[y * frame + x];
  return resize(crop, ch, cw, H, W);
}

}  // namespace

TEST("proposals equal a dense evaluation of every mask, over many geometries") {
  const int64_t geos[][4] = {{8, 32, 20, 27},  {8, 32, 50, 37}, {8, 32, 1, 5},  {6, 24, 1, 1},   {8, 32, 31, 19},
                             {16, 64, 48, 64}, {8, 32, 5, 1},   {4, 16, 40, 3}, {8, 32, 32, 32}, {12, 40, 23, 61}};
  for (int rep = 0; rep < 3; ++rep)
    for (const auto& g : geos) {
      const int64_t low = g[0], frame = g[1], H = g[2], W = g[3], prompts = 9, per = 3;
      auto d = check::sam_like_logits(prompts, per, low, low, W, H, check::test_seed() + rep * 131 + low * 7 + H);
      MaskGeneratorConfig cfg;
      cfg.pred_iou_threshold = 0.7;
      cfg.stability_threshold = 0.3;
      MaskGeometry geo{low, frame, H, W};
      MaskGenerator gen(cfg, geo);
      gen.add_batch(d.logits.data(), d.iou.data(), d.points.data(), 4, per);
      gen.add_batch(d.logits.data() + 4 * per * low * low, d.iou.data() + 4 * per, d.points.data() + 8, prompts - 4,
                    per);
      Proposals p = gen.finish();
      // Dense: per candidate, stability and mask.
      struct C {
        int64_t src, area;
        float iou, stab;
        Box box;
        std::vector<uint8_t> mask;
      };
      std::vector<C> cands;
      for (int64_t i = 0; i < prompts * per; ++i) {
        if (!(d.iou[i] > static_cast<float>(cfg.pred_iou_threshold))) continue;
        auto v = dense(d.logits.data() + i * low * low, low, frame, H, W);
        int64_t hi = 0, lo = 0, area = 0, x0 = W, y0 = H, x1 = -1, y1 = -1;
        std::vector<uint8_t> m(H * W, 0);
        for (int64_t y = 0; y < H; ++y)
          for (int64_t x = 0; x < W; ++x) {
            const double z = v[y * W + x];
            hi += z > 1.0;
            lo += z > -1.0;
            if (z > 0.0) {
              m[y * W + x] = 1;
              ++area;
              x0 = std::min(x0, x), y0 = std::min(y0, y), x1 = std::max(x1, x), y1 = std::max(y1, y);
            }
          }
        const float stab = lo ? static_cast<float>(double(hi) / double(lo)) : NAN;
        if (!(stab >= static_cast<float>(cfg.stability_threshold))) continue;
        const Box box = area ? Box{float(x0), float(y0), float(x1), float(y1)} : Box{0, 0, 0, 0};
        cands.push_back({i, area, d.iou[i], stab, box, std::move(m)});
      }
      std::vector<Box> boxes;
      std::vector<float> scores;
      for (auto& c : cands) boxes.push_back(c.box), scores.push_back(c.iou);
      auto kept = box_nms(boxes, scores, cfg.nms_iou_threshold);
      std::stable_sort(kept.begin(), kept.end(), [&](int64_t a, int64_t b) { return cands[a].area > cands[b].area; });
      if (static_cast<int64_t>(kept.size()) > cfg.max_proposals) kept.resize(cfg.max_proposals);
      CHECK_EQ(p.masks.dims[0], static_cast<int64_t>(kept.size()));
      if (p.masks.dims[0] != static_cast<int64_t>(kept.size())) continue;
      for (size_t k = 0; k < kept.size(); ++k) {
        const C& c = cands[kept[k]];
        CHECK_EQ(static_cast<int64_t>(p.source.as<int32_t>()[k]), c.src);
        CHECK_EQ(static_cast<int64_t>(p.areas.as<int32_t>()[k]), c.area);
        CHECK(p.stability.as<float>()[k] == c.stab);
        CHECK(std::memcmp(p.masks.as<uint8_t>() + k * H * W, c.mask.data(), H * W) == 0);
        CHECK(std::memcmp(p.boxes.as<float>() + k * 4, c.box.data(), sizeof(Box)) == 0);
      }
    }
}

TEST("geometries whose pixel count does not fit the GPU's 32-bit counters are refused, 2^31 itself included") {
  MaskGeneratorConfig cfg;
  CHECK_THROWS(hrseg::Error, (MaskGenerator::validate(cfg, MaskGeometry{256, 1024, 65536, 32768})));  // exactly 2^31
  CHECK_THROWS(hrseg::Error, (MaskGenerator::validate(cfg, MaskGeometry{256, 1024, 1, int64_t{1} << 31})));
  MaskGenerator::validate(cfg, MaskGeometry{256, 1024, 65536, 32767});  // one column less: fits
}

TEST("box NMS: suppression above the threshold, ties keep input order, degenerate boxes") {
  const std::vector<Box> boxes = {{0, 0, 10, 10}, {1, 1, 10, 10}, {20, 20, 30, 30}, {0, 0, 10, 10}, {5, 5, 5, 9}};
  const std::vector<float> scores = {0.9f, 0.95f, 0.5f, 0.95f, 0.99f};
  // Order by score: 4 (degenerate, overlaps nothing), 1, 3 (tie with 1: later), 0, 2.
  // 3 vs 1: IoU 81/100 > 0.7 → dropped; 0 vs 1: dropped; 2 kept.
  CHECK(box_nms(boxes, scores, 0.7) == (std::vector<int64_t>{4, 1, 2}));
  // At 0.9, 3 survives 1 (0.81), then 0 is identical to 3 (IoU 1) and goes.
  CHECK(box_nms(boxes, scores, 0.9) == (std::vector<int64_t>{4, 1, 3, 2}));
}

int main() { return check::run_all(); }
