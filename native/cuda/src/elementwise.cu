// Small kernels of the instruction step: cosine similarity, sigmoid, and the union of the chosen
// proposals.
#include <cmath>

#include "hrseg_cuda/check.h"
#include "hrseg_cuda/head_kernels.h"
#include "hrseg_cuda/launch.h"
#include "block_reduce.cuh"

namespace hrseg::cuda {

namespace {

__global__ void cosine_kernel(const float* __restrict__ a, int a_rows, const float* __restrict__ b, int d,
                              float* __restrict__ out) {
  __shared__ double red[32];
  const int r = blockIdx.x;
  const float* ar = a + static_cast<int64_t>(r % a_rows) * d;
  const float* br = b + static_cast<int64_t>(r) * d;
  double ab = 0, aa = 0, bb = 0;
  for (int e = threadIdx.x; e < d; e += blockDim.x) {
    ab += static_cast<double>(ar[e]) * br[e];
    aa += static_cast<double>(ar[e]) * ar[e];
    bb += static_cast<double>(br[e]) * br[e];
  }
  ab = detail::block_sum(ab, red);
  aa = detail::block_sum(aa, red);
  bb = detail::block_sum(bb, red);
  if (threadIdx.x == 0) out[r] = static_cast<float>(ab / (fmax(sqrt(aa), 1e-8) * fmax(sqrt(bb), 1e-8)));
}

__global__ void sigmoid_kernel(const float* __restrict__ x, int64_t n, float* __restrict__ out) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i < n) out[i] = 1.0f / (1.0f + expf(-x[i]));
}

__global__ void union_kernel(const uint8_t* __restrict__ masks, int64_t hw, const int32_t* __restrict__ chosen,
                             int count, uint8_t* __restrict__ out) {
  for (int64_t p = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; p < hw;
       p += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    uint8_t v = 0;
    for (int c = 0; c < count; ++c) v |= masks[chosen[c] * hw + p] != 0;
    out[p] = v;
  }
}

// One block per local row; threads stride over that row's (N·g)·C values.
__global__ void stitch_kernel(const float* __restrict__ tiles, int N, int g, int C, float* __restrict__ local) {
  const int row = blockIdx.x, r = row / g, i = row % g, nl = N * g;
  const int64_t tile_elems = static_cast<int64_t>(g) * g * C;
  float* out = local + static_cast<int64_t>(row) * nl * C;
  for (int64_t e = threadIdx.x; e < static_cast<int64_t>(nl) * C; e += blockDim.x) {
    const int col = static_cast<int>(e / C), c = col / g, j = col % g, ch = static_cast<int>(e % C);
    out[e] = tiles[(r * N + c) * tile_elems + (static_cast<int64_t>(i) * g + j) * C + ch];
  }
}

}  // namespace

void stitch_tiles(const float* tiles, int64_t N, int64_t grid, int64_t C, float* local, cudaStream_t stream) {
  if (N <= 0 || grid <= 0 || C <= 0) return;
  HRSEG_LAUNCH(stitch_kernel, static_cast<unsigned>(N * grid), 256, 0, stream)(
      tiles, static_cast<int>(N), static_cast<int>(grid), static_cast<int>(C), local);
  HRSEG_CUDA_LAUNCHED("stitch_tiles");
}

void cosine_rows(const float* a, int64_t a_rows, const float* b, int64_t rows, int64_t d, float* out,
                 cudaStream_t stream) {
  if (rows == 0) return;
  HRSEG_LAUNCH(cosine_kernel, static_cast<unsigned>(rows), 128, 0, stream)(a, static_cast<int>(a_rows), b,
                                                                           static_cast<int>(d), out);
  HRSEG_CUDA_LAUNCHED("cosine_rows");
}

void sigmoid(const float* x, int64_t n, float* out, cudaStream_t stream) {
  if (n == 0) return;
  HRSEG_LAUNCH(sigmoid_kernel, static_cast<unsigned>((n + 255) / 256), 256, 0, stream)(x, n, out);
  HRSEG_CUDA_LAUNCHED("sigmoid");
}

void union_masks(const uint8_t* masks, int64_t hw, const int32_t* chosen, int64_t count, uint8_t* out,
                 cudaStream_t stream) {
  if (hw == 0) return;
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>((hw + 255) / 256, 8192));
  HRSEG_LAUNCH(union_kernel, blocks, 256, 0, stream)(masks, hw, chosen, static_cast<int>(count), out);
  HRSEG_CUDA_LAUNCHED("union_masks");
}

}  // namespace hrseg::cuda
