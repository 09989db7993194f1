#include "hrseg/mask_geometry.h"

#include <algorithm>
#include <limits>

#include "hrseg/resample.h"

namespace hrseg {

ComposedAxis compose_axis(int64_t low, int64_t frame, int64_t content, int64_t out) {
  const Taps up = resample_taps(low, frame, Filter::BilinearTorch);
  const Taps down = resample_taps(content, out, Filter::BilinearTorch);
  ComposedAxis m;
  m.first.resize(out);
  m.count.resize(out);
  std::vector<std::vector<double>> per(out);
  for (int64_t o = 0; o < out; ++o) {
    int64_t lo = std::numeric_limits<int64_t>::max(), hi = -1;
    for (int64_t t = 0; t < down.count[o]; ++t) {
      const int64_t r = down.first[o] + t;
      lo = std::min(lo, up.first[r]);
      hi = std::max(hi, up.first[r] + up.count[r] - 1);
    }
    per[o].assign(hi - lo + 1, 0.0);
    for (int64_t t = 0; t < down.count[o]; ++t) {
      const int64_t r = down.first[o] + t;
      for (int64_t s = 0; s < up.count[r]; ++s) per[o][up.first[r] + s - lo] += down.weight(o, t) * up.weight(r, s);
    }
    m.first[o] = lo;
    m.count[o] = hi - lo + 1;
    m.max_taps = std::max(m.max_taps, m.count[o]);
  }
  m.w.assign(out * m.max_taps, 0.0);
  for (int64_t o = 0; o < out; ++o) std::copy(per[o].begin(), per[o].end(), m.w.begin() + o * m.max_taps);
  for (int64_t o = 0; o < out; ++o) {
    if (!m.groups.empty() && m.groups.back().lo == m.first[o] && m.groups.back().n == m.count[o])
      m.groups.back().o1 = o + 1;
    else
      m.groups.push_back({o, o + 1, m.first[o], m.count[o]});
  }
  return m;
}

ComposedMap compose_mask_map(int64_t low, int64_t frame, int64_t height, int64_t width) {
  const Extent content = longest_side_extent(height, width, frame);
  return {compose_axis(low, frame, content.height, height), compose_axis(low, frame, content.width, width)};
}

}  // namespace hrseg
