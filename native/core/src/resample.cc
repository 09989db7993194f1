#include "hrseg/resample.h"

#include <algorithm>
#include <cmath>

#include "hrseg/error.h"

namespace hrseg {

namespace {

double triangle(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

double cubic(double x) {
  constexpr double a = -0.5;  // Pillow's choice; torch's bicubic uses −0.75
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

// Pillow's precompute_coeffs: the filter is stretched by the scale when shrinking, the window is
// [center − support, center + support) clipped to the input, and the weights are renormalised.
Taps antialias_taps(int64_t in, int64_t out, double (*fn)(double), double support) {
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  const double filterscale = std::max(scale, 1.0);
  const double half = support * filterscale;
  Taps t;
  t.in = in;
  t.out = out;
  t.max_taps = static_cast<int64_t>(std::ceil(half)) * 2 + 1;
  t.first.resize(out);
  t.count.resize(out);
  t.weights.assign(out * t.max_taps, 0.0);
  for (int64_t o = 0; o < out; ++o) {
    const double center = (static_cast<double>(o) + 0.5) * scale;
    int64_t lo = static_cast<int64_t>(center - half + 0.5);  // truncation, as Pillow's (int)
    int64_t hi = static_cast<int64_t>(center + half + 0.5);
    lo = std::max<int64_t>(lo, 0);
    hi = std::min<int64_t>(hi, in);
    double total = 0.0;
    double* w = &t.weights[o * t.max_taps];
    for (int64_t j = lo; j < hi; ++j) total += w[j - lo] = fn((static_cast<double>(j) - center + 0.5) / filterscale);
    if (total != 0.0)
      for (int64_t j = 0; j < hi - lo; ++j) w[j] /= total;
    t.first[o] = lo;
    t.count[o] = hi - lo;
  }
  return t;
}

Taps torch_bilinear_taps(int64_t in, int64_t out) {
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  Taps t;
  t.in = in;
  t.out = out;
  t.max_taps = 2;
  t.first.resize(out);
  t.count.resize(out);
  t.weights.assign(out * 2, 0.0);
  for (int64_t o = 0; o < out; ++o) {
    double src = (static_cast<double>(o) + 0.5) * scale - 0.5;
    if (src < 0.0) src = 0.0;
    const int64_t i0 = std::min<int64_t>(static_cast<int64_t>(src), in - 1);
    const double l = src - static_cast<double>(i0);
    t.first[o] = i0;
    if (i0 + 1 < in && l > 0.0) {
      t.count[o] = 2;
      t.weights[o * 2] = 1.0 - l;
      t.weights[o * 2 + 1] = l;
    } else {
      t.count[o] = 1;
      t.weights[o * 2] = 1.0;
    }
  }
  return t;
}

}  // namespace

Taps resample_taps(int64_t in, int64_t out, Filter filter) {
  if (in < 1 || out < 1)
    throw Error(ErrorCode::InvalidArgument,
                "resample: sizes must be positive (in " + std::to_string(in) + ", out " + std::to_string(out) + ")");
  switch (filter) {
    case Filter::BilinearTorch:
      return torch_bilinear_taps(in, out);
    case Filter::BilinearAntialias:
      return antialias_taps(in, out, triangle, 1.0);
    case Filter::BicubicAntialias:
      return antialias_taps(in, out, cubic, 2.0);
  }
  throw Error(ErrorCode::InvalidArgument, "resample: unknown filter");
}

int64_t scaled_side(int64_t side, int64_t longest, int64_t target) {
  // The same operations in the same order as SAM's get_preprocess_shape, so ties round alike.
  const double scale = static_cast<double>(target) / static_cast<double>(longest);
  return static_cast<int64_t>(static_cast<double>(side) * scale + 0.5);
}

Extent longest_side_extent(int64_t height, int64_t width, int64_t target) {
  const int64_t longest = std::max(height, width);
  return {std::max<int64_t>(1, scaled_side(height, longest, target)),
          std::max<int64_t>(1, scaled_side(width, longest, target))};
}

}  // namespace hrseg
