#include "hrseg/views.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "hrseg/error.h"
#include "hrseg/thread_pool.h"

namespace hrseg {

namespace {

void check_image(const Image8& image) {
  if (!image.rgb || image.height < 1 || image.width < 1)
    throw Error(ErrorCode::InvalidArgument, "image: empty (" + std::to_string(image.height) + "×" +
                                                std::to_string(image.width) + ")");
}

void check_size(int64_t size, const char* what) {
  if (size < 1 || size > 16384)
    throw Error(ErrorCode::InvalidArgument, std::string(what) + ": view size must be in [1, 16384], got " + std::to_string(size));
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

Tensor square_view(const Image8& image, int64_t size, const Normalize& norm, Filter filter, const CancelToken* cancel,
                   int64_t* content_h, int64_t* content_w) {
  check_image(image);
  check_size(size, "square view");
  const auto [rh, rw] = longest_side_extent(image.height, image.width, size);
  Tensor resized = resize_planar(image, rh, rw, filter, cancel);
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
  if (n < 1 || n > 8) throw Error(ErrorCode::InvalidArgument, "tiled view: magnification must be in [1, 8], got " + std::to_string(n));
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
                        const CancelToken* cancel) {
  check_image(image);
  check_size(size, "centre-crop view");
  const int64_t shortest = std::min(image.height, image.width), longest = std::max(image.height, image.width);
  const int64_t other = std::max<int64_t>(size, static_cast<int64_t>(static_cast<double>(size) * longest / shortest));
  const int64_t rh = image.height <= image.width ? size : other;
  const int64_t rw = image.height <= image.width ? other : size;
  Tensor resized = resize_planar(image, rh, rw, filter, cancel);
  Tensor out(DType::F32, {3, size, size});
  normalised_window(resized, (rh - size) / 2, (rw - size) / 2, size, norm, out.as<float>());
  return out;
}

}  // namespace hrseg
