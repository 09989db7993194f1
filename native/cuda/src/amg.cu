// Mask post-processing kernels: a block handles a band of rows of one mask; each thread
// evaluates its pixels (two separable tap loops in float64, __dmul_rn/__dadd_rn so nvcc does not
// fuse them, matching the CPU's arithmetic), compares against the three thresholds and folds the
// box; block reductions, then one atomic per block and counter.
#include <cstdint>
#include <string>

#include "hrseg/error.h"
#include "hrseg_cuda/amg_kernels.h"
#include "hrseg_cuda/check.h"
#include "hrseg_cuda/grid_limits.h"
#include "hrseg_cuda/launch.h"
#include "block_reduce.cuh"

namespace hrseg::cuda {

namespace {

constexpr int kRowsPerBlock = 8;

__device__ inline double pixel(const float* __restrict__ L, int low, const DeviceAxis& rows, const DeviceAxis& cols,
                               int y, int x) {
  const int fy = rows.first[y], ny = rows.count[y], fx = cols.first[x], nx = cols.count[x];
  const double* wy = rows.w + static_cast<int64_t>(y) * rows.max_taps;
  const double* wx = cols.w + static_cast<int64_t>(x) * cols.max_taps;
  double v = 0.0;
  for (int j = 0; j < nx; ++j) {
    double line = 0.0;
    for (int i = 0; i < ny; ++i)
      line = __dadd_rn(line, __dmul_rn(wy[i], static_cast<double>(L[(fy + i) * low + fx + j])));
    v = __dadd_rn(v, __dmul_rn(wx[j], line));
  }
  return v;
}

__global__ void stats_kernel(const float* __restrict__ logits, int low, const int32_t* __restrict__ which,
                             DeviceAxis rows, DeviceAxis cols, int H, int W, double t, double o, int32_t* counts,
                             int32_t* boxes) {
  __shared__ int red[32];
  const int m = blockIdx.y;
  const float* L = logits + static_cast<int64_t>(which[m]) * low * low;
  const int y0 = blockIdx.x * kRowsPerBlock, y1 = min(H, y0 + kRowsPerBlock);
  int lo = 0, mid = 0, hi = 0, bx0 = INT32_MAX, by0 = INT32_MAX, bx1 = -1, by1 = -1;
  for (int p = threadIdx.x; p < (y1 - y0) * W; p += blockDim.x) {
    const int y = y0 + p / W, x = p % W;
    const double v = pixel(L, low, rows, cols, y, x);
    lo += v > t - o;
    hi += v > t + o;
    if (v > t) {
      ++mid;
      bx0 = min(bx0, x), by0 = min(by0, y), bx1 = max(bx1, x), by1 = max(by1, y);
    }
  }
  lo = detail::block_sum(lo, red);
  mid = detail::block_sum(mid, red);
  hi = detail::block_sum(hi, red);
  bx1 = detail::block_max(bx1, red);
  by1 = detail::block_max(by1, red);
  bx0 = -detail::block_max(-bx0, red);
  by0 = -detail::block_max(-by0, red);
  if (threadIdx.x == 0) {
    if (lo) atomicAdd(&counts[m * 3 + 0], lo);
    if (mid) {
      atomicAdd(&counts[m * 3 + 1], mid);
      atomicMin(&boxes[m * 4 + 0], bx0);
      atomicMin(&boxes[m * 4 + 1], by0);
      atomicMax(&boxes[m * 4 + 2], bx1);
      atomicMax(&boxes[m * 4 + 3], by1);
    }
    if (hi) atomicAdd(&counts[m * 3 + 2], hi);
  }
}

__global__ void init_stats_kernel(int32_t* counts, int32_t* boxes, int n) {
  const int m = blockIdx.x * blockDim.x + threadIdx.x;
  if (m >= n) return;
  counts[m * 3] = counts[m * 3 + 1] = counts[m * 3 + 2] = 0;
  boxes[m * 4] = boxes[m * 4 + 1] = INT32_MAX;
  boxes[m * 4 + 2] = boxes[m * 4 + 3] = -1;
}

__global__ void masks_kernel(const float* __restrict__ logits, int low, const int32_t* __restrict__ which,
                             DeviceAxis rows, DeviceAxis cols, int H, int W, double t, uint8_t* __restrict__ out) {
  const int k = blockIdx.y;
  const float* L = logits + static_cast<int64_t>(which[k]) * low * low;
  const int y0 = blockIdx.x * kRowsPerBlock, y1 = min(H, y0 + kRowsPerBlock);
  uint8_t* o = out + static_cast<int64_t>(k) * H * W;
  for (int p = threadIdx.x; p < (y1 - y0) * W; p += blockDim.x) {
    const int y = y0 + p / W, x = p % W;
    o[static_cast<int64_t>(y) * W + x] = pixel(L, low, rows, cols, y, x) > t;
  }
}

// In float64 like hrseg::box_iou, so that a pair at the threshold is decided the same way.
__device__ inline double iou(const float* a, const float* b) {
  const double area_a = (double(a[2]) - a[0]) * (double(a[3]) - a[1]),
               area_b = (double(b[2]) - b[0]) * (double(b[3]) - b[1]);
  const double w = fmax(0.0, double(fminf(a[2], b[2])) - fmaxf(a[0], b[0]));
  const double h = fmax(0.0, double(fminf(a[3], b[3])) - fmaxf(a[1], b[1]));
  const double inter = w * h, uni = area_a + area_b - inter;
  return uni > 0.0 ? inter / uni : 0.0;
}

// Block (row tile tile0 + y, column tile x) of 64 × 64 box pairs; thread r owns box (tile0 + y)·64 + r,
// whose bits go to row (y·64 + r) of the band that ends before box row_end.
__global__ void nms_kernel(const float* __restrict__ boxes, int n, int tile0, int row_end, double threshold,
                           uint64_t* __restrict__ mask) {
  __shared__ float tile[64 * 4];
  const int ri = tile0 + blockIdx.y, cj = blockIdx.x;
  if (cj < ri) return;  // only later boxes can be suppressed
  const int words = (n + 63) / 64;
  const int col0 = cj * 64, cols = min(64, n - col0);
  if (threadIdx.x < cols)
    for (int c = 0; c < 4; ++c) tile[threadIdx.x * 4 + c] = boxes[static_cast<int64_t>(col0 + threadIdx.x) * 4 + c];
  __syncthreads();
  const int i = ri * 64 + threadIdx.x;
  if (i >= row_end) return;
  uint64_t bits = 0;
  for (int c = 0; c < cols; ++c) {
    const int j = col0 + c;
    if (j <= i) continue;
    if (iou(boxes + static_cast<int64_t>(i) * 4, tile + c * 4) > threshold) bits |= uint64_t{1} << c;
  }
  mask[static_cast<int64_t>(blockIdx.y * 64 + threadIdx.x) * words + cj] = bits;
}

}  // namespace

void amg_stats(const float* logits, int64_t low, const int32_t* which, int64_t n, DeviceAxis rows, DeviceAxis cols,
               int64_t H, int64_t W, double t, double o, int32_t* counts, int32_t* boxes, cudaStream_t stream) {
  if (n == 0) return;
  HRSEG_LAUNCH(init_stats_kernel, static_cast<unsigned>((n + 127) / 128), 128, 0, stream)(counts, boxes,
                                                                                          static_cast<int>(n));
  HRSEG_CUDA_LAUNCHED("amg_init");
  const unsigned bands = static_cast<unsigned>((H + kRowsPerBlock - 1) / kRowsPerBlock);
  in_grid_y_slices(n, [&](int64_t m0, unsigned count) {
    HRSEG_LAUNCH(stats_kernel, dim3(bands, count), 256, 0, stream)(logits, static_cast<int>(low), which + m0, rows,
                                                                   cols, static_cast<int>(H), static_cast<int>(W), t, o,
                                                                   counts + m0 * 3, boxes + m0 * 4);
    HRSEG_CUDA_LAUNCHED("amg_stats");
  });
}

void amg_masks(const float* logits, int64_t low, const int32_t* which, int64_t K, DeviceAxis rows, DeviceAxis cols,
               int64_t H, int64_t W, double t, uint8_t* out, cudaStream_t stream) {
  if (K == 0) return;
  const unsigned bands = static_cast<unsigned>((H + kRowsPerBlock - 1) / kRowsPerBlock);
  in_grid_y_slices(K, [&](int64_t k0, unsigned count) {
    HRSEG_LAUNCH(masks_kernel, dim3(bands, count), 256, 0, stream)(logits, static_cast<int>(low), which + k0, rows,
                                                                   cols, static_cast<int>(H), static_cast<int>(W), t,
                                                                   out + k0 * H * W);
    HRSEG_CUDA_LAUNCHED("amg_masks");
  });
}

void nms_bitmask(const float* boxes, int64_t n, int64_t row0, int64_t rows, double threshold, uint64_t* mask,
                 cudaStream_t stream) {
  if (n > (int64_t{1} << 30))
    throw Error(ErrorCode::InvalidArgument, "nms_bitmask: " + std::to_string(n) + " boxes, over 2^30");
  if (row0 % 64 != 0 || row0 < 0 || rows < 0 || row0 + rows > n)
    throw Error(ErrorCode::InvalidArgument, "nms_bitmask: rows " + std::to_string(row0) + " … " +
                                                std::to_string(row0 + rows) + " of " + std::to_string(n) +
                                                " (the band must start at a multiple of 64)");
  if (rows == 0) return;
  const int64_t words = (n + 63) / 64, tiles = (rows + 63) / 64;
  HRSEG_CUDA_CHECK(cudaMemsetAsync(mask, 0, static_cast<size_t>(rows * words) * sizeof(uint64_t), stream));
  in_grid_y_slices(tiles, [&](int64_t t0, unsigned count) {
    HRSEG_LAUNCH(nms_kernel, dim3(static_cast<unsigned>(words), count), 64, 0, stream)(
        boxes, static_cast<int>(n), static_cast<int>(row0 / 64 + t0), static_cast<int>(row0 + rows), threshold,
        mask + t0 * 64 * words);
    HRSEG_CUDA_LAUNCHED("nms_bitmask");
  });
}

}  // namespace hrseg::cuda
