// SAM's mask post-processing on the GPU (SPEC.md section 3): plain launchers over device arrays.
// Pixels are evaluated with the composed taps of hrseg/mask_geometry.h, in the same order and
// without fused multiply-adds, so every decision matches the CPU mask generator bit for bit.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

namespace hrseg::cuda {

// One axis of the composed map, in device memory.
struct DeviceAxis {
  const int32_t* first = nullptr;
  const int32_t* count = nullptr;
  const double* w = nullptr;  // [out, max_taps]
  int32_t max_taps = 0;
};

// For each of n masks (logits + which[m]·low²): pixels above t − o, t, t + o → counts[m·3 + 0..2],
// and the box of pixels above t → boxes[m·4] = x0, y0, x1, y1 (inclusive; −1 when empty).
// One pass over the H × W pixels of each mask: upsample, threshold, count and box together.
// counts and boxes are initialised by the launcher.
void amg_stats(const float* logits, int64_t low, const int32_t* which, int64_t n, DeviceAxis rows, DeviceAxis cols,
               int64_t H, int64_t W, double t, double o, int32_t* counts, int32_t* boxes, cudaStream_t stream);

// The K masks logits + which[k]·low² at the original resolution: out [K, H, W], 0/1.
void amg_masks(const float* logits, int64_t low, const int32_t* which, int64_t K, DeviceAxis rows, DeviceAxis cols,
               int64_t H, int64_t W, double t, uint8_t* out, cudaStream_t stream);

// Greedy-NMS suppression bits for the band of rows row0 … row0 + rows − 1 of n boxes already sorted
// by descending score (x0, y0, x1, y1 continuous, as torchvision): bit j of mask[(i − row0)·words + j/64]
// says box j (j > i) overlaps box i above the threshold. words = ceil(n / 64); row0 is a multiple of
// 64. In bands, so that the n²/8 bytes of the whole matrix are never needed at once (greedy_nms.h).
void nms_bitmask(const float* boxes, int64_t n, int64_t row0, int64_t rows, double threshold, uint64_t* mask,
                 cudaStream_t stream);

}  // namespace hrseg::cuda
