#include "hrseg/mask_resize.h"

#include <algorithm>
#include <cmath>

namespace hrseg {

namespace {

// PyTorch's antialiased bilinear weights (aten UpSampleKernel.cpp, _compute_weights_aa with the
// triangle filter, interp_size 2), in double as PyTorch computes them for float64 masks (LLM-Seg
// pads and resizes its proposals as float64).
void antialias_taps(int64_t in, int64_t out, int64_t o, int64_t& first, std::vector<double>& w) {
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  const double support = scale >= 1.0 ? scale : 1.0;
  const double invscale = scale >= 1.0 ? 1.0 / scale : 1.0;
  const double center = scale * (static_cast<double>(o) + 0.5);
  // static_cast truncates toward zero, as PyTorch's does; the max() then clamps at the border.
  first = std::max<int64_t>(static_cast<int64_t>(center - support + 0.5), 0);
  const int64_t last = std::min<int64_t>(static_cast<int64_t>(center + support + 0.5), in);
  w.clear();
  double total = 0.0;
  for (int64_t j = first; j < last; ++j) {
    const double t = std::fabs((static_cast<double>(j) - center + 0.5) * invscale);
    const double v = t < 1.0 ? 1.0 - t : 0.0;
    w.push_back(v);
    total += v;
  }
  if (total != 0.0)
    for (double& v : w) v /= total;
}

}  // namespace

ResizeAxis resize_axis(MaskResize mode, int64_t in, int64_t out, int64_t limit) {
  ResizeAxis a;
  a.in = in, a.out = out, a.limit = std::min(limit, in);
  a.first.resize(static_cast<size_t>(out));
  a.count.resize(static_cast<size_t>(out));
  a.offset.resize(static_cast<size_t>(out));
  std::vector<double> w;
  for (int64_t o = 0; o < out; ++o) {
    int64_t first = 0;
    if (mode == MaskResize::Area) {
      first = (o * in) / out;
      const int64_t end = ((o + 1) * in + out - 1) / out;
      w.assign(static_cast<size_t>(end - first), 1.0 / static_cast<double>(end - first));
    } else {
      antialias_taps(in, out, o, first, w);
    }
    // Drop the padding (and zero weights at the filter's edges): they add nothing.
    int64_t n = std::max<int64_t>(0, std::min<int64_t>(static_cast<int64_t>(w.size()), a.limit - first));
    while (n > 0 && w[static_cast<size_t>(n - 1)] == 0.0) --n;
    int64_t skip = 0;
    while (skip < n && w[static_cast<size_t>(skip)] == 0.0) ++skip;
    a.first[o] = first + skip;
    a.count[o] = n - skip;
    a.offset[o] = static_cast<int64_t>(a.weight.size());
    a.weight.insert(a.weight.end(), w.begin() + skip, w.begin() + n);
  }
  return a;
}

MaskResizer::MaskResizer(MaskResize mode, int64_t H, int64_t W, int64_t P)
    : y(resize_axis(mode, std::max(H, W), P, H)), x(resize_axis(mode, std::max(H, W), P, W)) {}

double MaskResizer::weights(const uint8_t* mask, float* w) const {
  const int64_t P = y.out, W = x.limit;
  double total = 0.0;
  for (int64_t oy = 0; oy < P; ++oy)
    for (int64_t ox = 0; ox < P; ++ox) {
      double acc = 0.0;
      for (int64_t ty = 0; ty < y.count[oy]; ++ty) {
        const uint8_t* row = mask + (y.first[oy] + ty) * W + x.first[ox];
        const double* wx = x.weight.data() + x.offset[ox];
        double r = 0.0;
        for (int64_t tx = 0; tx < x.count[ox]; ++tx)
          if (row[tx]) r += wx[tx];
        const double p = y.weight[static_cast<size_t>(y.offset[oy] + ty)] * r;
        acc += p;
      }
      w[oy * P + ox] = static_cast<float>(acc);
      total += acc;
    }
  return total;
}

}  // namespace hrseg
