// Separable resampling. Every resize in hrseg (image views, SAM's mask upsampling, mask pooling's
// area weights) is a linear map along each axis; this computes that map once per (in, out, filter)
// as a list of taps per output index, so the pixel loops are plain weighted sums.
#pragma once
#include <cstdint>
#include <vector>

namespace hrseg {

enum class Filter {
  // torch.nn.functional.interpolate(mode="bilinear", align_corners=False, antialias=False):
  // two taps at src = (o + 0.5)·in/out − 0.5, clamped. SAM's mask upsampling uses exactly this.
  BilinearTorch,
  // Pillow's BILINEAR (a triangle stretched by the scale when shrinking, i.e. antialiased): the
  // resize torchvision applies to PIL images, hence SAM's and DINOv2's preprocessing.
  // PyTorch's interpolate(mode="bilinear", antialias=True) computes the same table (mask pooling).
  BilinearAntialias,
  // Pillow's BICUBIC (a = −0.5, antialiased): the CLIP image processor's resize.
  BicubicAntialias,
};

// For output index o: inputs first[o] .. first[o] + count[o] − 1 with weights
// weights[o·max_taps + t]. Weights are non-negative for the bilinear filters and sum to 1.
struct Taps {
  int64_t in = 0, out = 0, max_taps = 0;
  std::vector<int64_t> first, count;
  std::vector<double> weights;

  double weight(int64_t o, int64_t t) const { return weights[o * max_taps + t]; }
};

Taps resample_taps(int64_t in, int64_t out, Filter filter);

// The size SAM's ResizeLongestSide gives the side `side` when the longest side `longest` goes to
// `target`: int(side · target / longest + 0.5).
int64_t scaled_side(int64_t side, int64_t longest, int64_t target);

struct Extent {
  int64_t height = 0, width = 0;
};

// The size of a height × width image resized so its longest side is `target`: each side by
// scaled_side, at least 1. Views and SAM's mask geometry both use it.
Extent longest_side_extent(int64_t height, int64_t width, int64_t target);

}  // namespace hrseg
