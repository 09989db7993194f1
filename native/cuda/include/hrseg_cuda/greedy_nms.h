// Greedy box NMS with the overlap test on the GPU (hrseg/box_nms.h's order and float64 IoU, so the
// same boxes are kept): the suppression bits are computed a band of rows at a time and scanned on
// the host before the next band, so memory stays at `band_bytes` (device, and as much on the host),
// or one band of 64 rows (8·n bytes) where that is more: the whole matrix is n²/8 bytes, 4.5 GiB
// at n = 196,608 (pointsPerBatch's limit of 65536 prompts × 3 masks), where a band of 64 MiB is
// 2,688 rows. At most 2^30 boxes (nms_bitmask's int indices).
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace hrseg::cuda {

constexpr size_t kNmsBandBytes = size_t{64} << 20;

// boxes: n device boxes (x0, y0, x1, y1) sorted by descending score. Returns the indices kept, ascending.
std::vector<int64_t> greedy_nms(const float* boxes, int64_t n, double threshold, cudaStream_t stream,
                                size_t band_bytes = kNmsBandBytes);

}  // namespace hrseg::cuda
