#include "hrseg/mask_generator.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
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
  std::vector<uint8_t> tile_mixed;  // per column group: some threshold undecided for the whole tile
  std::vector<uint8_t> above;       // a run's pixels above t
  std::vector<int32_t> edges;       // where they change
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

  // The exact values of row y over the column groups [g0, g1) (into s.values, from the first
  // group's o0), composed weights in float64. Both passes use this one function, so they decide
  // every pixel identically, and a pixel's value does not depend on which groups share the call
  // (each input column's sum over the rows, then each pixel's over the columns, in the same order).
  // Adjacent mixed tiles go in one call: a row of ragged or noisy logits is mostly mixed tiles of a
  // few pixels each, and per-tile calls cost more than the arithmetic.
  void tile_row(const float* L, int64_t y, size_t g0, size_t g1, Scratch& s) const {
    const int64_t low = geo.low;
    const Group &first = cols.groups[g0], &last = cols.groups[g1 - 1];
    const int64_t lo = first.lo, n = last.lo + last.n - lo;
    const double* wy = &rows.w[y * rows.max_taps];
    s.line.assign(n, 0.0);
    double* line = s.line.data();
    for (int64_t i = 0; i < rows.count[y]; ++i) {
      const float* r = L + (rows.first[y] + i) * low + lo;
      const double wi = wy[i];
      for (int64_t c = 0; c < n; ++c) line[c] += wi * r[c];
    }
    s.values.resize(last.o1 - first.o0);
    double* values = s.values.data();
    const int64_t taps = cols.max_taps;
    const int64_t* fx = cols.first.data();
    const int64_t* cx = cols.count.data();
    const double* w = cols.w.data();
    if (taps <= 2) {
      // Enlarging (bilinear: one or two taps a pixel), the usual case, without the inner loop:
      // 0.0 + a is a, so these are the loop's sums exactly.
      for (int64_t x = first.o0; x < last.o1; ++x) {
        const double* in = line + (fx[x] - lo);
        double v = w[x * taps] * in[0];
        if (cx[x] == 2) v += w[x * taps + 1] * in[1];
        values[x - first.o0] = v;
      }
      return;
    }
    for (int64_t x = first.o0; x < last.o1; ++x) {
      const double* wx = w + x * taps;
      const double* in = line + (fx[x] - lo);
      double v = 0.0;
      for (int64_t j = 0; j < cx[x]; ++j) v += wx[j] * in[j];
      values[x - first.o0] = v;
    }
  }

  // One pass over the mask: the pixel counts above t − o, t and t + o (the stability score), the box
  // of the pixels above t, and their runs per row (c.spans, c.row_start). Each pixel is evaluated
  // once: a tile whose inputs decide a threshold for all its pixels counts as a block; a pixel's
  // span membership is decided by the tile's class at t where the tile is uniform there, else by
  // its value, as two separate passes decided it before.
  Counts scan(const float* L, Scratch& s, Candidate& c) const {
    const double t = config.mask_threshold, o = config.stability_offset;
    const double th[3] = {t - o, t, t + o};
    Counts k;
    c.row_start.assign(geo.height + 1, 0);
    c.spans.clear();
    window(L, th[0], s);
    const size_t ng = cols.groups.size();
    s.tile_class.resize(ng);
    s.tile_mixed.resize(ng);
    for (size_t ri = 0; ri < rows.groups.size(); ++ri) {
      const Group& gr = rows.groups[ri];
      if (ri < s.gr0 || ri >= s.gr1) {  // nothing above t − o in these rows
        for (int64_t y = gr.o0; y < gr.o1; ++y) c.row_start[y] = static_cast<int32_t>(c.spans.size());
        continue;
      }
      tile_bounds(L, gr, s);
      const int64_t rows_in = gr.o1 - gr.o0;
      for (size_t g = s.gc0; g < s.gc1; ++g) {
        const Group& gc = cols.groups[g];
        float mn, mx;
        tile_minmax(s, gc, mn, mx);
        s.tile_class[g] = mn > th[1] ? 1 : (mx <= th[1] ? 0 : 2);
        const bool mixed = mx > th[0] && ((mn <= th[0]) || (mn <= th[1] && mx > th[1]) || (mn <= th[2] && mx > th[2]));
        s.tile_mixed[g] = mixed;
        if (mixed || mx <= th[0]) continue;
        // Every threshold is decided for the whole tile; mn > th[0] here.
        const int64_t area = rows_in * (gc.o1 - gc.o0);
        k.lo += area;
        if (mn > th[1]) {
          k.mid += area;
          k.cover(gc.o0, gr.o0, gc.o1 - 1, gr.o1 - 1);
        }
        if (mn > th[2]) k.hi += area;
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
        for (size_t g = s.gc0; g < s.gc1;) {
          if (!s.tile_mixed[g]) {
            if (s.tile_class[g] == 1) {
              if (open < 0) open = cols.groups[g].o0;
            } else {
              close(cols.groups[g].o0);
            }
            ++g;
            continue;
          }
          // A run of adjacent mixed tiles, evaluated together.
          size_t end = g + 1;
          while (end < s.gc1 && s.tile_mixed[end]) ++end;
          tile_row(L, y, g, end, s);
          const double* v = s.values.data();
          const int64_t base = cols.groups[g].o0;
          int64_t lo = 0, hi = 0, mid = 0, xa = -1, xb = -1;
          for (int64_t x = 0, n = static_cast<int64_t>(s.values.size()); x < n; ++x) {  // no branch on values
            const bool above = v[x] > th[1];
            lo += v[x] > th[0];
            hi += v[x] > th[2];
            mid += above;
            xb = above ? x : xb;
          }
          if (xb >= 0) {
            for (xa = 0; !(v[xa] > th[1]); ++xa) {
            }
            k.cover(base + xa, y, base + xb, y);
          }
          k.lo += lo;
          k.hi += hi;
          k.mid += mid;
          // The run's pixels above t (a uniform tile by its class), then their transitions, written
          // without a branch per pixel: spans alternate open, close from the state before the run.
          s.above.resize(s.values.size());
          for (; g < end; ++g) {
            const Group& gc = cols.groups[g];
            uint8_t* a = s.above.data() + (gc.o0 - base);
            const int64_t w = gc.o1 - gc.o0;
            if (s.tile_class[g] != 2)
              std::memset(a, s.tile_class[g], static_cast<size_t>(w));
            else
              for (int64_t x = 0; x < w; ++x) a[x] = v[gc.o0 - base + x] > t;
          }
          const int64_t n = static_cast<int64_t>(s.above.size());
          s.edges.resize(n + 1);
          int32_t* e = s.edges.data();
          int64_t count = 0;
          uint8_t state = open >= 0;
          for (int64_t x = 0; x < n; ++x) {
            e[count] = static_cast<int32_t>(base + x);
            count += s.above[x] != state;
            state = s.above[x];
          }
          int64_t i = 0;
          if (open >= 0 && count > 0) {
            close(e[0]);
            i = 1;
          }
          for (; i + 1 < count; i += 2) {
            c.spans.push_back(e[i]);
            c.spans.push_back(e[i + 1]);
          }
          if (i < count) open = e[i];
        }
        close(s.gc1 < ng ? cols.groups[s.gc1].o0 : geo.width);
      }
    }
    c.row_start[geo.height] = static_cast<int32_t>(c.spans.size());
    return k;
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
      Candidate& c = out[j];
      const Counts k = m.scan(L, s, c);
      const float stability = stability_score(k.hi, k.lo);
      if (!stable_enough(stability, m.config.stability_threshold)) {
        c = Candidate{};  // its spans are not needed
        continue;
      }
      c.iou = iou[i];
      c.stability = stability;
      c.area = k.mid;
      c.source = m.prompts * masks_per_prompt + i;
      c.box = k.mid > 0 ? Box{float(k.x0), float(k.y0), float(k.x1), float(k.y1)} : Box{0, 0, 0, 0};
      c.px = points[(i / masks_per_prompt) * 2];
      c.py = points[(i / masks_per_prompt) * 2 + 1];
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
