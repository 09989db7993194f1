// The model inputs cut from an 8-bit RGB image (SPEC.md section 2). Each view is resized in
// float from the 8-bit samples (Pillow rounds to 8 bits between its two passes; by default we do
// not, so values may differ from Pillow's by up to one grey level before normalisation), or, with
// `round8`, exactly as Pillow's 8-bit Image.resize computes it (fixed-point taps, both passes
// rounded to 8 bits: what torchvision and Hugging Face's processors feed LISA), then normalised
// per channel, and laid out planar (C, H, W) as the encoders take it.
#pragma once
#include <cstdint>

#include "hrseg/cancel.h"
#include "hrseg/resample.h"
#include "hrseg/tensor.h"

namespace hrseg {

// Applied to 0–255 samples: (x − mean) / std.
struct Normalize {
  float mean[3];
  float std[3];
};

struct Image8 {
  const uint8_t* rgb = nullptr;  // height × width × 3, row-major
  int64_t height = 0, width = 0;
};

// Longest side to `size` (the other side by scaled_side), normalised, zero-padded at the bottom
// and right to size × size: [3, size, size]. `content_h/w` receive the resized extent.
Tensor square_view(const Image8& image, int64_t size, const Normalize& norm, Filter filter,
                   const CancelToken* cancel = nullptr, int64_t* content_h = nullptr, int64_t* content_w = nullptr,
                   bool round8 = false);

// The square view at n·size cut into n² crops of size × size in raster order: [n², 3, size, size].
Tensor tiled_view(const Image8& image, int64_t size, int64_t n, const Normalize& norm, Filter filter,
                  const CancelToken* cancel = nullptr);

// Shortest side to `size` (the other side int(size · long / short), as Hugging Face's image
// processors), then the centred size × size crop (offset (extent − size) / 2, rounded down): [3, size, size].
Tensor center_crop_view(const Image8& image, int64_t size, const Normalize& norm, Filter filter,
                        const CancelToken* cancel = nullptr, bool round8 = false);

// Pillow's 8-bit resize of RGB (libImaging/Resample.c, 8bpc): [out_h, out_w, 3] uint8.
Tensor pillow_resize8(const Image8& image, int64_t out_h, int64_t out_w, Filter filter,
                      const CancelToken* cancel = nullptr);

}  // namespace hrseg
