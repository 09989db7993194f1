// SAM's two resizes of a low-resolution mask (upsample to the padded frame, crop, resize to the
// original) composed into one separable linear map per axis. The CPU mask generator and its CUDA
// counterpart both evaluate pixels with these taps, in the same order, so they agree bit for bit.
#pragma once
#include <cstdint>
#include <vector>

namespace hrseg {

// Consecutive output indices that read the same low-resolution indices [lo, lo + n).
struct TapGroup {
  int64_t o0, o1, lo, n;
};

// One axis: output o reads inputs first[o] .. first[o] + count[o] − 1 with weights
// w[o·max_taps + t] (non-negative, summing to 1).
struct ComposedAxis {
  int64_t max_taps = 0;
  std::vector<int64_t> first, count;
  std::vector<double> w;
  std::vector<TapGroup> groups;
};

// low → frame (torch bilinear), crop to `content`, → `out` (torch bilinear).
ComposedAxis compose_axis(int64_t low, int64_t frame, int64_t content, int64_t out);

// Both axes for an image of height × width, whose content fills the frame's longest side.
struct ComposedMap {
  ComposedAxis rows, cols;
};
ComposedMap compose_mask_map(int64_t low, int64_t frame, int64_t height, int64_t width);

}  // namespace hrseg
