#include "hrseg/mask_resize.h"

#include <algorithm>

#include "hrseg/resample.h"

namespace hrseg {

ResizeAxis resize_axis(MaskResize mode, int64_t in, int64_t out, int64_t limit) {
  ResizeAxis a;
  a.in = in, a.out = out, a.limit = std::min(limit, in);
  a.first.resize(static_cast<size_t>(out));
  a.count.resize(static_cast<size_t>(out));
  a.offset.resize(static_cast<size_t>(out));
  // PyTorch's antialiased bilinear (aten's _compute_weights_aa, triangle filter) is the same
  // stretched-triangle table as Pillow's BILINEAR, which resample_taps already computes in double
  // (LLM-Seg pads and resizes its proposals as float64).
  const Taps aa = mode == MaskResize::BilinearAntialias ? resample_taps(in, out, Filter::BilinearAntialias) : Taps{};
  std::vector<double> w;
  for (int64_t o = 0; o < out; ++o) {
    int64_t first = 0;
    if (mode == MaskResize::Area) {
      first = (o * in) / out;
      const int64_t end = ((o + 1) * in + out - 1) / out;
      w.assign(static_cast<size_t>(end - first), 1.0 / static_cast<double>(end - first));
    } else {
      first = aa.first[o];
      const double* row = aa.weights.data() + o * aa.max_taps;
      w.assign(row, row + aa.count[o]);
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
