#include "hrseg/mask_generator.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <numeric>
#include <string>

#include "hrseg/error.h"
#include "hrseg/mask_geometry.h"
#include "hrseg/resample.h"
#include "hrseg/thread_pool.h"

namespace hrseg {

namespace {

using Group = TapGroup;
using AxisMap = ComposedAxis;

struct Candidate {
  float iou = 0, stability = 0;
  int64_t area = 0, source = 0;
  Box box{};
  float px = 0, py = 0;
  std::vector<int32_t> row_start;  // H + 1 offsets into spans
  std::vector<int32_t> spans;      // x0, x1 pairs (x1 exclusive)
};

struct Counts {
  int64_t lo = 0, mid = 0, hi = 0;  // pixels above t − o, t, t + o
  int64_t x0 = std::numeric_limits<int64_t>::max(), y0 = std::numeric_limits<int64_t>::max(), x1 = -1, y1 = -1;
  void cover(int64_t ax0, int64_t ay0, int64_t ax1, int64_t ay1) {  // inclusive
    x0 = std::min(x0, ax0);
    y0 = std::min(y0, ay0);
    x1 = std::max(x1, ax1);
    y1 = std::max(y1, ay1);
  }
};

// Per-thread buffers, sized once per mask.
struct Scratch {
  // Row and column groups that can hold a pixel above the lowest threshold (the rest is skipped).
  size_t gr0 = 0, gr1 = 0, gc0 = 0, gc1 = 0;
  std::vector<float> colmin, colmax;
  std::vector<double> line, values;
  std::vector<uint8_t> tile_class;  // per column group: 0 below, 1 above, 2 mixed (at t)
};

}  // namespace

struct MaskGenerator::Impl {
  MaskGeneratorConfig config;
  MaskGeometry geo;
  AxisMap rows, cols;
  std::vector<Candidate> candidates;
  int64_t prompts = 0, evaluated = 0, passed_iou = 0;

  // Groups whose inputs [lo, lo + n) may meet [a, b]. lo never decreases along the groups, so the
  // groups before the first one reaching a, and after the last one starting by b, cannot meet it.
  // The range may be empty: when shrinking, some low-resolution samples feed no pixel at all.
  static void group_range(const std::vector<Group>& gs, int64_t a, int64_t b, size_t& g0, size_t& g1) {
    g0 = 0;
    while (g0 < gs.size() && gs[g0].lo + gs[g0].n - 1 < a) ++g0;
    g1 = gs.size();
    while (g1 > g0 && gs[g1 - 1].lo > b) --g1;
  }

  // A tile whose logits are all at or below `floor` decides nothing above it; only the groups that
  // touch the low-resolution box of logits above `floor` need visiting.
  void window(const float* L, double floor, Scratch& s) const {
    const int64_t low = geo.low;
    int64_t r0 = low, r1 = -1, c0 = low, c1 = -1;
    for (int64_t r = 0; r < low; ++r) {
      const float* row = L + r * low;
      int64_t first = -1, last = -1;
      for (int64_t c = 0; c < low; ++c)
        if (row[c] > floor) {
          if (first < 0) first = c;
          last = c;
        }
      if (first >= 0) {
        r0 = std::min(r0, r);
        r1 = r;
        c0 = std::min(c0, first);
        c1 = std::max(c1, last);
      }
    }
    if (r1 < 0) {
      s.gr0 = s.gr1 = s.gc0 = s.gc1 = 0;
      return;
    }
    group_range(rows.groups, r0, r1, s.gr0, s.gr1);
    group_range(cols.groups, c0, c1, s.gc0, s.gc1);
    if (s.gr0 == s.gr1 || s.gc0 == s.gc1) s.gr0 = s.gr1 = s.gc0 = s.gc1 = 0;
  }

  // Min and max over the logits that feed each column group of the window, for one row group.
  void tile_bounds(const float* L, const Group& gr, Scratch& s) const {
    const int64_t low = geo.low;
    const int64_t a = cols.groups[s.gc0].lo, b = cols.groups[s.gc1 - 1].lo + cols.groups[s.gc1 - 1].n;
    s.colmin.resize(low);
    s.colmax.resize(low);
    std::copy(L + gr.lo * low + a, L + gr.lo * low + b, s.colmin.begin() + a);
    std::copy(L + gr.lo * low + a, L + gr.lo * low + b, s.colmax.begin() + a);
    for (int64_t i = 1; i < gr.n; ++i) {
      const float* r = L + (gr.lo + i) * low;
      for (int64_t c = a; c < b; ++c) {
        s.colmin[c] = std::min(s.colmin[c], r[c]);
        s.colmax[c] = std::max(s.colmax[c], r[c]);
      }
    }
  }

  // Min and max over the logits feeding tile (current row group, gc): from tile_bounds' columns.
  static void tile_minmax(const Scratch& s, const Group& gc, float& mn, float& mx) {
    mn = s.colmin[gc.lo];
    mx = s.colmax[gc.lo];
    for (int64_t c = 1; c < gc.n; ++c) {
      mn = std::min(mn, s.colmin[gc.lo + c]);
      mx = std::max(mx, s.colmax[gc.lo + c]);
    }
  }

  // The exact values of row y over the columns of group gc (into s.values), composed weights in
  // float64. Both passes use this one function, so they decide every pixel identically.
  void tile_row(const float* L, int64_t y, const Group& gc, Scratch& s) const {
    const int64_t low = geo.low;
    const double* wy = &rows.w[y * rows.max_taps];
    s.line.assign(gc.n, 0.0);
    for (int64_t i = 0; i < rows.count[y]; ++i) {
      const float* r = L + (rows.first[y] + i) * low + gc.lo;
      for (int64_t c = 0; c < gc.n; ++c) s.line[c] += wy[i] * r[c];
    }
    s.values.resize(gc.o1 - gc.o0);
    for (int64_t x = gc.o0; x < gc.o1; ++x) {
      const double* wx = &cols.w[x * cols.max_taps];
      const double* line = s.line.data() + (cols.first[x] - gc.lo);
      double v = 0.0;
      for (int64_t j = 0; j < cols.count[x]; ++j) v += wx[j] * line[j];
      s.values[x - gc.o0] = v;
    }
  }

  Counts count(const float* L, Scratch& s) const {
    const double t = config.mask_threshold, o = config.stability_offset;
    const double th[3] = {t - o, t, t + o};
    Counts k;
    window(L, th[0], s);
    for (size_t ri = s.gr0; ri < s.gr1; ++ri) {
      const Group& gr = rows.groups[ri];
      tile_bounds(L, gr, s);
      for (size_t ci = s.gc0; ci < s.gc1; ++ci) {
        const Group& gc = cols.groups[ci];
        float mn, mx;
        tile_minmax(s, gc, mn, mx);
        if (mx <= th[0]) continue;
        const int64_t area = (gr.o1 - gr.o0) * (gc.o1 - gc.o0);
        const bool mixed = (mn <= th[0]) || (mn <= th[1] && mx > th[1]) || (mn <= th[2] && mx > th[2]);
        if (!mixed) {
          // Every threshold is decided for the whole tile; mn > th[0] here.
          k.lo += area;
          if (mn > th[1]) {
            k.mid += area;
            k.cover(gc.o0, gr.o0, gc.o1 - 1, gr.o1 - 1);
          }
          if (mn > th[2]) k.hi += area;
          continue;
        }
        for (int64_t y = gr.o0; y < gr.o1; ++y) {
          tile_row(L, y, gc, s);
          for (int64_t x = gc.o0; x < gc.o1; ++x) {
            const double v = s.values[x - gc.o0];
            k.lo += v > th[0];
            k.hi += v > th[2];
            if (v > th[1]) {
              ++k.mid;
              k.cover(x, y, x, y);
            }
          }
        }
      }
    }
    return k;
  }

  void spans(const float* L, Scratch& s, Candidate& c) const {
    const double t = config.mask_threshold;
    c.row_start.assign(geo.height + 1, 0);
    c.spans.clear();
    window(L, t, s);
    for (size_t ri = 0; ri < rows.groups.size(); ++ri) {
      const Group& gr = rows.groups[ri];
      if (ri < s.gr0 || ri >= s.gr1) {  // nothing above t in these rows
        for (int64_t y = gr.o0; y < gr.o1; ++y) c.row_start[y] = static_cast<int32_t>(c.spans.size());
        continue;
      }
      tile_bounds(L, gr, s);
      s.tile_class.assign(cols.groups.size(), 0);
      for (size_t g = s.gc0; g < s.gc1; ++g) {
        float mn, mx;
        tile_minmax(s, cols.groups[g], mn, mx);
        s.tile_class[g] = mn > t ? 1 : (mx <= t ? 0 : 2);
      }
      for (int64_t y = gr.o0; y < gr.o1; ++y) {
        c.row_start[y] = static_cast<int32_t>(c.spans.size());
        int64_t open = -1;  // start of the span being built
        auto close = [&](int64_t end) {
          if (open >= 0) {
            c.spans.push_back(static_cast<int32_t>(open));
            c.spans.push_back(static_cast<int32_t>(end));
            open = -1;
          }
        };
        for (size_t g = s.gc0; g < s.gc1; ++g) {
          const Group& gc = cols.groups[g];
          if (s.tile_class[g] == 1) {
            if (open < 0) open = gc.o0;
          } else if (s.tile_class[g] == 0) {
            close(gc.o0);
          } else {
            tile_row(L, y, gc, s);
            for (int64_t x = gc.o0; x < gc.o1; ++x) {
              if (s.values[x - gc.o0] > t) {
                if (open < 0) open = x;
              } else {
                close(x);
              }
            }
          }
        }
        close(s.gc1 < cols.groups.size() ? cols.groups[s.gc1].o0 : geo.width);
      }
    }
    c.row_start[geo.height] = static_cast<int32_t>(c.spans.size());
  }
};

Proposals Proposals::allocate(int64_t K, int64_t H, int64_t W) {
  Proposals p;
  p.masks = Tensor(DType::U8, {K, H, W});
  p.boxes = Tensor(DType::F32, {K, 4});
  p.iou = Tensor(DType::F32, {K});
  p.stability = Tensor(DType::F32, {K});
  p.areas = Tensor(DType::I32, {K});
  p.points = Tensor(DType::F32, {K, 2});
  p.source = Tensor(DType::I32, {K});
  return p;
}

void Proposals::set(int64_t k, const Box& box, float iou_value, float stability_value, int64_t area, float px, float py,
                    int64_t source_index) {
  std::copy(box.begin(), box.end(), boxes.as<float>() + k * 4);
  iou.as<float>()[k] = iou_value;
  stability.as<float>()[k] = stability_value;
  areas.as<int32_t>()[k] = static_cast<int32_t>(area);
  points.as<float>()[k * 2] = px;
  points.as<float>()[k * 2 + 1] = py;
  source.as<int32_t>()[k] = static_cast<int32_t>(source_index);
}

std::vector<int64_t> masks_above_iou(const float* iou, int64_t n, double threshold) {
  const float th = static_cast<float>(threshold);
  std::vector<int64_t> out;
  for (int64_t i = 0; i < n; ++i)
    if (iou[i] > th) out.push_back(i);
  return out;
}

float stability_score(int64_t above_high, int64_t above_low) noexcept {
  return above_low > 0 ? static_cast<float>(static_cast<double>(above_high) / static_cast<double>(above_low)) : NAN;
}

bool stable_enough(float stability, double threshold) noexcept { return stability >= static_cast<float>(threshold); }

void largest_first(std::vector<int64_t>& ids, const std::vector<int64_t>& areas, int64_t max_k) {
  std::stable_sort(ids.begin(), ids.end(), [&](int64_t a, int64_t b) { return areas[a] > areas[b]; });
  if (static_cast<int64_t>(ids.size()) > max_k) ids.resize(max_k);
}

void MaskGenerator::validate(const MaskGeneratorConfig& config, const MaskGeometry& geometry) {
  const auto bad = [](const std::string& m) { throw Error(ErrorCode::InvalidArgument, "mask generator: " + m); };
  if (geometry.low < 1 || geometry.frame < 1) bad("low-resolution and frame sizes must be positive");
  if (geometry.height < 1 || geometry.width < 1) bad("image size must be positive");
  // Pixel counts are int32 on the GPU (atomicAdd): 2^31 itself would wrap.
  if (geometry.height * geometry.width >= (int64_t{1} << 31)) bad("image too large for 32-bit pixel counts");
  if (config.max_proposals < 0) bad("max proposals must be >= 0");
  if (!(config.stability_offset >= 0)) bad("stability offset must be >= 0");
}

MaskGenerator::MaskGenerator(const MaskGeneratorConfig& config, const MaskGeometry& geometry)
    : impl_(std::make_unique<Impl>()) {
  validate(config, geometry);
  impl_->config = config;
  impl_->geo = geometry;
  ComposedMap map = compose_mask_map(geometry.low, geometry.frame, geometry.height, geometry.width);
  impl_->rows = std::move(map.rows);
  impl_->cols = std::move(map.cols);
}

MaskGenerator::~MaskGenerator() = default;

const MaskGeometry& MaskGenerator::geometry() const noexcept { return impl_->geo; }

void MaskGenerator::add_batch(const float* logits, const float* iou, const float* points, int64_t batch,
                              int64_t masks_per_prompt, const CancelToken* cancel) {
  Impl& m = *impl_;
  const int64_t n = batch * masks_per_prompt, plane = m.geo.low * m.geo.low;
  const std::vector<int64_t> todo = masks_above_iou(iou, n, m.config.pred_iou_threshold);
  std::vector<Candidate> out(todo.size());
  std::vector<char> keep(todo.size(), 0);
  parallel_for(0, static_cast<int64_t>(todo.size()), 1, [&](int64_t a, int64_t b) {
    Scratch s;
    for (int64_t j = a; j < b; ++j) {
      check_cancel(cancel);
      const int64_t i = todo[j];
      const float* L = logits + i * plane;
      const Counts k = m.count(L, s);
      const float stability = stability_score(k.hi, k.lo);
      if (!stable_enough(stability, m.config.stability_threshold)) continue;
      Candidate& c = out[j];
      c.iou = iou[i];
      c.stability = stability;
      c.area = k.mid;
      c.source = m.prompts * masks_per_prompt + i;
      c.box = k.mid > 0 ? Box{float(k.x0), float(k.y0), float(k.x1), float(k.y1)} : Box{0, 0, 0, 0};
      c.px = points[(i / masks_per_prompt) * 2];
      c.py = points[(i / masks_per_prompt) * 2 + 1];
      m.spans(L, s, c);
      keep[j] = 1;
    }
  });
  for (size_t j = 0; j < out.size(); ++j)
    if (keep[j]) m.candidates.push_back(std::move(out[j]));
  m.prompts += batch;
  m.evaluated += n;
  m.passed_iou += static_cast<int64_t>(todo.size());
}

Proposals MaskGenerator::finish(const CancelToken* cancel) const {
  const Impl& m = *impl_;
  std::vector<Box> boxes;
  std::vector<float> scores;
  for (const Candidate& c : m.candidates) {
    boxes.push_back(c.box);
    scores.push_back(c.iou);
  }
  check_cancel(cancel);
  std::vector<int64_t> kept = box_nms(boxes, scores, m.config.nms_iou_threshold);
  const int64_t after_nms = static_cast<int64_t>(kept.size());
  std::vector<int64_t> areas;
  for (const Candidate& c : m.candidates) areas.push_back(c.area);
  largest_first(kept, areas, m.config.max_proposals);
  const int64_t K = static_cast<int64_t>(kept.size()), H = m.geo.height, W = m.geo.width;
  Proposals p = Proposals::allocate(K, H, W);
  parallel_for(0, K, 1, [&](int64_t a, int64_t b) {
    for (int64_t k = a; k < b; ++k) {
      check_cancel(cancel);
      const Candidate& c = m.candidates[kept[k]];
      uint8_t* mask = p.masks.as<uint8_t>() + k * H * W;
      for (int64_t y = 0; y < H; ++y)
        for (int32_t s = c.row_start[y]; s < c.row_start[y + 1]; s += 2)
          std::memset(mask + y * W + c.spans[s], 1, c.spans[s + 1] - c.spans[s]);
      p.set(k, c.box, c.iou, c.stability, c.area, c.px, c.py, c.source);
    }
  });
  p.evaluated = m.evaluated;
  p.passed_iou = m.passed_iou;
  p.passed_stability = static_cast<int64_t>(m.candidates.size());
  p.after_nms = after_nms;
  return p;
}

}  // namespace hrseg
