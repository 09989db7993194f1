#include "hrseg/views.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "hrseg/error.h"
#include "hrseg/thread_pool.h"

namespace hrseg {

namespace {

void check_image(const Image8& image) {
  if (!image.rgb || image.height < 1 || image.width < 1)
    throw Error(ErrorCode::InvalidArgument,
                "image: empty (" + std::to_string(image.height) + "×" + std::to_string(image.width) + ")");
}

void check_size(int64_t size, const char* what) {
  if (size < 1 || size > 16384)
    throw Error(ErrorCode::InvalidArgument,
                std::string(what) + ": view size must be in [1, 16384], got " + std::to_string(size));
}

// Resizes to out_h × out_w, planar float [3, out_h, out_w] on the 0–255 scale. Rows first, then
// columns (Pillow's order), each pass a weighted sum over the taps.
Tensor resize_planar(const Image8& image, int64_t out_h, int64_t out_w, Filter filter, const CancelToken* cancel) {
  const Taps tx = resample_taps(image.width, out_w, filter);
  const Taps ty = resample_taps(image.height, out_h, filter);
  const int64_t H = image.height, W = image.width;
  // Horizontal pass: [H, out_w, 3].
  Tensor horiz(DType::F32, {H, out_w, 3});
  float* hz = horiz.as<float>();
  parallel_for(0, H, 16, [&](int64_t y0, int64_t y1) {
    if (cancel) cancel->check();
    for (int64_t y = y0; y < y1; ++y) {
      const uint8_t* row = image.rgb + y * W * 3;
      float* dst = hz + y * out_w * 3;
      for (int64_t o = 0; o < out_w; ++o) {
        double acc[3] = {0, 0, 0};
        const uint8_t* src = row + tx.first[o] * 3;
        for (int64_t t = 0; t < tx.count[o]; ++t) {
          const double w = tx.weight(o, t);
          acc[0] += w * src[t * 3];
          acc[1] += w * src[t * 3 + 1];
          acc[2] += w * src[t * 3 + 2];
        }
        dst[o * 3] = static_cast<float>(acc[0]);
        dst[o * 3 + 1] = static_cast<float>(acc[1]);
        dst[o * 3 + 2] = static_cast<float>(acc[2]);
      }
    }
  });
  // Vertical pass into planar output.
  Tensor out(DType::F32, {3, out_h, out_w});
  float* po = out.as<float>();
  parallel_for(0, out_h, 8, [&](int64_t o0, int64_t o1) {
    if (cancel) cancel->check();
    std::vector<double> acc(out_w * 3);
    for (int64_t o = o0; o < o1; ++o) {
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t t = 0; t < ty.count[o]; ++t) {
        const double w = ty.weight(o, t);
        const float* src = hz + (ty.first[o] + t) * out_w * 3;
        for (int64_t i = 0; i < out_w * 3; ++i) acc[i] += w * src[i];
      }
      for (int64_t x = 0; x < out_w; ++x)
        for (int c = 0; c < 3; ++c) po[(c * out_h + o) * out_w + x] = static_cast<float>(acc[x * 3 + c]);
    }
  });
  return out;
}

// Pillow's precompute_coeffs + normalize_coeffs_8bpc for one axis: per output index the first
// input and the count, and 22-bit fixed-point weights (rounded away from zero).
constexpr int kPrecisionBits = 32 - 8 - 2;

struct FixedTaps {
  int64_t ksize = 0;
  std::vector<int64_t> first, count;
  std::vector<int32_t> k;
};

FixedTaps pillow_taps(int64_t in, int64_t out, Filter filter) {
  const bool cubic = filter == Filter::BicubicAntialias;
  if (!cubic && filter != Filter::BilinearAntialias)
    throw Error(ErrorCode::InvalidArgument, "Pillow's resize: bilinear or bicubic");
  const auto f = [cubic](double x) {
    x = x < 0 ? -x : x;
    if (!cubic) return x < 1 ? 1 - x : 0.0;
    constexpr double a = -0.5;
    if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
  };
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  const double filterscale = scale < 1 ? 1 : scale;
  const double support = (cubic ? 2.0 : 1.0) * filterscale;
  FixedTaps t;
  t.ksize = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  t.first.resize(out);
  t.count.resize(out);
  t.k.assign(static_cast<size_t>(out * t.ksize), 0);
  std::vector<double> w(static_cast<size_t>(t.ksize));
  for (int64_t o = 0; o < out; ++o) {
    const double center = (static_cast<double>(o) + 0.5) * scale, ss = 1.0 / filterscale;
    int64_t xmin = static_cast<int64_t>(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int64_t xmax = static_cast<int64_t>(center + support + 0.5);
    if (xmax > in) xmax = in;
    xmax -= xmin;
    double ww = 0;
    for (int64_t x = 0; x < xmax; ++x) ww += w[x] = f((static_cast<double>(x + xmin) - center + 0.5) * ss);
    for (int64_t x = 0; x < xmax; ++x) {
      const double v = ww != 0 ? w[x] / ww : w[x];
      t.k[o * t.ksize + x] =
          static_cast<int32_t>(v < 0 ? -0.5 + v * (1 << kPrecisionBits) : 0.5 + v * (1 << kPrecisionBits));
    }
    t.first[o] = xmin;
    t.count[o] = xmax;
  }
  return t;
}

inline uint8_t clip8(int64_t v) {
  if (v >= (int64_t{256} << kPrecisionBits)) return 255;
  if (v <= 0) return 0;
  return static_cast<uint8_t>(v >> kPrecisionBits);
}

// resize_planar's Pillow-exact counterpart, on the 0–255 scale as floats.
Tensor resize_planar_round8(const Image8& image, int64_t out_h, int64_t out_w, Filter filter,
                            const CancelToken* cancel) {
  Tensor rgb = pillow_resize8(image, out_h, out_w, filter, cancel);
  Tensor out(DType::F32, {3, out_h, out_w});
  const uint8_t* s = rgb.as<uint8_t>();
  float* d = out.as<float>();
  for (int64_t i = 0; i < out_h * out_w; ++i)
    for (int c = 0; c < 3; ++c) d[c * out_h * out_w + i] = s[i * 3 + c];
  return out;
}

// Copies the window [top, top + size) × [left, left + size) of a planar resized image into a
// [3, size, size] destination, normalised; outside the resized image it writes 0 (the padding).
void normalised_window(const Tensor& resized, int64_t top, int64_t left, int64_t size, const Normalize& norm,
                       float* dst) {
  const int64_t rh = resized.dims[1], rw = resized.dims[2];
  const float* src = resized.as<float>();
  for (int c = 0; c < 3; ++c) {
    const float mean = norm.mean[c], inv = 1.0f / norm.std[c];
    for (int64_t y = 0; y < size; ++y) {
      float* d = dst + (c * size + y) * size;
      const int64_t sy = top + y;
      if (sy >= rh) {
        std::memset(d, 0, sizeof(float) * size);
        continue;
      }
      const float* s = src + (c * rh + sy) * rw;
      for (int64_t x = 0; x < size; ++x) {
        const int64_t sx = left + x;
        d[x] = sx < rw ? (s[sx] - mean) * inv : 0.0f;
      }
    }
  }
}

}  // namespace

Tensor pillow_resize8(const Image8& image, int64_t out_h, int64_t out_w, Filter filter, const CancelToken* cancel) {
  check_image(image);
  const int64_t H = image.height, W = image.width;
  const bool need_h = out_w != W, need_v = out_h != H;
  Tensor out(DType::U8, {out_h, out_w, 3});
  // Horizontal pass first over every row (Pillow limits it to the rows the vertical pass reads;
  // the values of those rows are the same), rounded to 8 bits.
  Tensor tmp(DType::U8, {H, out_w, 3});
  if (need_h) {
    const FixedTaps tx = pillow_taps(W, out_w, filter);
    uint8_t* hz = tmp.as<uint8_t>();
    parallel_for(0, H, 16, [&](int64_t y0, int64_t y1) {
      if (cancel) cancel->check();
      for (int64_t y = y0; y < y1; ++y)
        for (int64_t o = 0; o < out_w; ++o) {
          int64_t acc[3] = {1 << (kPrecisionBits - 1), 1 << (kPrecisionBits - 1), 1 << (kPrecisionBits - 1)};
          const uint8_t* src = image.rgb + (y * W + tx.first[o]) * 3;
          for (int64_t t = 0; t < tx.count[o]; ++t) {
            const int64_t k = tx.k[o * tx.ksize + t];
            for (int c = 0; c < 3; ++c) acc[c] += src[t * 3 + c] * k;
          }
          for (int c = 0; c < 3; ++c) hz[(y * out_w + o) * 3 + c] = clip8(acc[c]);
        }
    });
  } else {
    std::memcpy(tmp.as<uint8_t>(), image.rgb, static_cast<size_t>(H * W * 3));
  }
  if (!need_v) return tmp;
  const FixedTaps ty = pillow_taps(H, out_h, filter);
  const uint8_t* src = tmp.as<uint8_t>();
  uint8_t* dst = out.as<uint8_t>();
  parallel_for(0, out_h, 8, [&](int64_t o0, int64_t o1) {
    if (cancel) cancel->check();
    for (int64_t o = o0; o < o1; ++o)
      for (int64_t i = 0; i < out_w * 3; ++i) {
        int64_t acc = 1 << (kPrecisionBits - 1);
        for (int64_t t = 0; t < ty.count[o]; ++t)
          acc += src[(ty.first[o] + t) * out_w * 3 + i] * static_cast<int64_t>(ty.k[o * ty.ksize + t]);
        dst[o * out_w * 3 + i] = clip8(acc);
      }
  });
  return out;
}

Tensor square_view(const Image8& image, int64_t size, const Normalize& norm, Filter filter, const CancelToken* cancel,
                   int64_t* content_h, int64_t* content_w, bool round8) {
  check_image(image);
  check_size(size, "square view");
  const auto [rh, rw] = longest_side_extent(image.height, image.width, size);
  Tensor resized =
      round8 ? resize_planar_round8(image, rh, rw, filter, cancel) : resize_planar(image, rh, rw, filter, cancel);
  Tensor out(DType::F32, {3, size, size});
  normalised_window(resized, 0, 0, size, norm, out.as<float>());
  if (content_h) *content_h = rh;
  if (content_w) *content_w = rw;
  return out;
}

Tensor tiled_view(const Image8& image, int64_t size, int64_t n, const Normalize& norm, Filter filter,
                  const CancelToken* cancel) {
  check_image(image);
  check_size(size, "tiled view");
  if (n < 1 || n > 8)
    throw Error(ErrorCode::InvalidArgument, "tiled view: magnification must be in [1, 8], got " + std::to_string(n));
  const int64_t big = n * size;
  const auto [rh, rw] = longest_side_extent(image.height, image.width, big);
  Tensor resized = resize_planar(image, rh, rw, filter, cancel);
  Tensor out(DType::F32, {n * n, 3, size, size});
  for (int64_t r = 0; r < n; ++r)
    for (int64_t c = 0; c < n; ++c)
      normalised_window(resized, r * size, c * size, size, norm, out.as<float>() + (r * n + c) * 3 * size * size);
  return out;
}

Tensor center_crop_view(const Image8& image, int64_t size, const Normalize& norm, Filter filter,
                        const CancelToken* cancel, bool round8) {
  check_image(image);
  check_size(size, "centre-crop view");
  const int64_t shortest = std::min(image.height, image.width), longest = std::max(image.height, image.width);
  const int64_t other = std::max<int64_t>(size, static_cast<int64_t>(static_cast<double>(size) * longest / shortest));
  const int64_t rh = image.height <= image.width ? size : other;
  const int64_t rw = image.height <= image.width ? other : size;
  Tensor resized =
      round8 ? resize_planar_round8(image, rh, rw, filter, cancel) : resize_planar(image, rh, rw, filter, cancel);
  Tensor out(DType::F32, {3, size, size});
  normalised_window(resized, (rh - size) / 2, (rw - size) / 2, size, norm, out.as<float>());
  return out;
}

}  // namespace hrseg
