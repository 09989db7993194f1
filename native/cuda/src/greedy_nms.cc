#include "hrseg_cuda/greedy_nms.h"

#include <algorithm>

#include "hrseg_cuda/amg_kernels.h"
#include "hrseg_cuda/check.h"
#include "hrseg_cuda/device_buffer.h"

namespace hrseg::cuda {

std::vector<int64_t> greedy_nms(const float* boxes, int64_t n, double threshold, cudaStream_t stream,
                                size_t band_bytes) {
  std::vector<int64_t> kept;
  if (n <= 0) return kept;
  const int64_t words = (n + 63) / 64, row_bytes = words * static_cast<int64_t>(sizeof(uint64_t));
  // Whole tiles of 64 rows per band, at least one.
  const int64_t budget = static_cast<int64_t>(std::min<size_t>(band_bytes, size_t{1} << 62));
  const int64_t band = std::min(n, std::max<int64_t>(64, budget / row_bytes / 64 * 64));
  DeviceBuffer<uint64_t> d_bits(static_cast<size_t>(band * words), stream);
  std::vector<uint64_t> bits(static_cast<size_t>(band * words)), removed(static_cast<size_t>(words), 0);
  for (int64_t row0 = 0; row0 < n; row0 += band) {
    const int64_t rows = std::min(band, n - row0);
    nms_bitmask(boxes, n, row0, rows, threshold, d_bits.get(), stream);
    HRSEG_CUDA_CHECK(cudaMemcpyAsync(bits.data(), d_bits.get(), static_cast<size_t>(rows * row_bytes),
                                     cudaMemcpyDeviceToHost, stream));
    HRSEG_CUDA_CHECK(cudaStreamSynchronize(stream));
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t i = row0 + r;
      if (removed[i / 64] >> (i % 64) & 1) continue;
      kept.push_back(i);
      const uint64_t* row = bits.data() + r * words;
      for (int64_t w = i / 64; w < words; ++w) removed[w] |= row[w];  // earlier words are zero
    }
  }
  return kept;
}

}  // namespace hrseg::cuda
