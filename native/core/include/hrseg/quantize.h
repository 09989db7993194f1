// Weight-only blockwise quantization (lib/convert/quantize.ts documents the scheme and the graph
// form): round to nearest (ties to even) along the input dimension, symmetric int codes or uint
// codes with zero points, and per block the clipping ratio with the smallest squared error. Here
// because a 7B decoder has 6.5 G weights: the converter's JavaScript did 13 M/s.
#pragma once
#include <cstdint>

namespace hrseg {

struct BlockQuantOptions {
  int bits = 4;             // 4 or 8
  int64_t block = 32;       // inputs per block; divides the input dimension
  bool asymmetric = false;  // uint codes with zero points
  bool clip_search = true;  // try kClipRatios, keep the smallest error
};

// The ratios of the block's range tried as its clipping point (the first smallest error wins).
inline constexpr double kClipRatios[] = {1, 0.95, 0.9, 0.85, 0.8, 0.75, 0.7};

// w [out, in] (PyTorch's Linear layout) → codes of wᵀ [in, out] row-major (int4/uint4 two per byte,
// the first in the low nibble; int8/uint8 one per byte), scales [in/block, out], and for
// asymmetric zero points [in/block, out] packed like the codes. codes and zero_points must be
// zero-filled by the caller. Runs on the thread pool; results do not depend on the thread count.
void quantize_blockwise(const float* w, int64_t out, int64_t in, const BlockQuantOptions& options, uint8_t* codes,
                        float* scales, uint8_t* zero_points);

}  // namespace hrseg
