// How a proposal becomes mask-pooling weights (SPEC.md 4.4): the mask, zero-padded bottom/right to
// the square of side S = max(H, W), is resized to P×P. Both forms SPEC allows are linear and
// separable, w = R_y·M·R_xᵀ, so each axis is a small table of taps; the CPU head, the CUDA kernels
// and the tests all read the same tables.
#pragma once
#include <cstdint>
#include <vector>

namespace hrseg {

enum class MaskResize {
  // PyTorch F.interpolate(mode="bilinear", align_corners=False, antialias=True), LLM-Seg's code:
  // a triangle filter whose support grows with the downscale factor, weights normalised per output.
  BilinearAntialias,
  // PyTorch mode="area" (adaptive average pooling): bin o averages [floor(o·S/P), ceil((o+1)·S/P)).
  Area,
};

// One axis of the resize, S → P: output o reads inputs first[o] … first[o]+count[o]−1 with
// weight[offset[o] + t]. Inputs at or beyond `limit` (the image's extent inside the padded square)
// are zero padding and are left out, but still count in each output's normalisation, as in PyTorch.
struct ResizeAxis {
  int64_t in = 0, out = 0, limit = 0;
  std::vector<int64_t> first, count, offset;
  std::vector<double> weight;
};

ResizeAxis resize_axis(MaskResize mode, int64_t in, int64_t out, int64_t limit);

// Both axes of a proposal of H×W resized to P×P in its padded square frame.
struct MaskResizer {
  ResizeAxis y, x;
  MaskResizer(MaskResize mode, int64_t H, int64_t W, int64_t P);
  // The P×P weights of one proposal (0/1 mask; any non-zero byte counts as 1), each output summed
  // as Σ_y w_y·(Σ_x w_x·m): the CUDA kernel sums in the same order. Returns Σw (eq. 10's
  // normaliser) summed in double before rounding.
  double weights(const uint8_t* mask, float* w) const;
};

}  // namespace hrseg
