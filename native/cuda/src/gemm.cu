// GEMM kernels. The SIMT one is a classic shared-memory tiled kernel (64×64 output tile, 16-deep
// k slices, 4×4 outputs per thread); the tensor-core one uses WMMA 16×16×16 fragments with fp32
// accumulation, 64×64 block tiles of four warps (2×2 fragments each).
//
// Turing (sm_75, built by the CUDA 12 flavour: docs/cuda.md) has fp16 tensor cores but no bf16 ones:
// nvcc has no bf16 WMMA fragments below sm_80. So the bf16 tensor-core kernel is compiled only for
// sm_80 and newer, and gemm_tc sends bf16 on a 7.x device to the SIMT kernel, which widens each
// bf16 element to fp32 as it loads it (the same products and fp32 sums, without tensor cores).
#include <type_traits>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <mma.h>

#include "hrseg_cuda/check.h"
#include "hrseg_cuda/gemm.h"
#include "hrseg_cuda/launch.h"

namespace hrseg::cuda {

namespace {

constexpr int kTile = 64, kDepth = 16;

__device__ __forceinline__ float widen(float v) { return v; }
__device__ __forceinline__ float widen(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T>
__global__ void gemm_simt_kernel(const T* __restrict__ x, int rows, int in, const T* __restrict__ w,
                                 const float* __restrict__ bias, int out, float* __restrict__ y, bool relu) {
  __shared__ float xs[kDepth][kTile + 1];
  __shared__ float ws[kDepth][kTile + 1];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;  // 256 threads: 16×16, each 4×4 outputs
  const int row0 = blockIdx.y * kTile, col0 = blockIdx.x * kTile;
  float acc[4][4] = {};
  for (int k0 = 0; k0 < in; k0 += kDepth) {
    // Each thread loads 4 elements of each tile (64 rows × 16 depth = 1024 = 256 × 4).
    for (int l = threadIdx.x; l < kTile * kDepth; l += blockDim.x) {
      const int r = l / kDepth, k = l % kDepth;
      const int gr = row0 + r, gc = col0 + r, gk = k0 + k;
      xs[k][r] = (gr < rows && gk < in) ? widen(x[static_cast<int64_t>(gr) * in + gk]) : 0.0f;
      ws[k][r] = (gc < out && gk < in) ? widen(w[static_cast<int64_t>(gc) * in + gk]) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < kDepth; ++k) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        a[i] = xs[k][ty * 4 + i];
        b[i] = ws[k][tx * 4 + i];
      }
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int r = row0 + ty * 4 + i;
    if (r >= rows) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int c = col0 + tx * 4 + j;
      if (c >= out) continue;
      float v = acc[i][j] + (bias ? bias[c] : 0.0f);
      y[static_cast<int64_t>(r) * out + c] = relu ? fmaxf(v, 0.0f) : v;
    }
  }
}

template <typename T>
__device__ void gemm_tc_tile(const T* __restrict__ x, int rows, int in, const T* __restrict__ w,
                             const float* __restrict__ bias, int out, float* __restrict__ y, bool relu) {
  using namespace nvcuda;
  __shared__ __align__(32) T xs[kTile][kDepth + 8];  // +8: fewer bank conflicts; WMMA wants 32-byte alignment
  __shared__ __align__(32) T ws[kTile][kDepth + 8];
  __shared__ __align__(32) float cs[4][32][32 + 4];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int wr = warp / 2, wc = warp % 2;  // the warp's 32×32 quadrant
  const int row0 = blockIdx.y * kTile, col0 = blockIdx.x * kTile;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);
  const T zero = T(0.0f);
  for (int k0 = 0; k0 < in; k0 += kDepth) {
    for (int l = threadIdx.x; l < kTile * kDepth; l += blockDim.x) {
      const int r = l / kDepth, k = l % kDepth;
      const int gr = row0 + r, gc = col0 + r, gk = k0 + k;
      xs[r][k] = (gr < rows && gk < in) ? x[static_cast<int64_t>(gr) * in + gk] : zero;
      ws[r][k] = (gc < out && gk < in) ? w[static_cast<int64_t>(gc) * in + gk] : zero;
    }
    __syncthreads();
    wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a[2];
    wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> b[2];
#pragma unroll
    for (int i = 0; i < 2; ++i) wmma::load_matrix_sync(a[i], &xs[wr * 32 + i * 16][0], kDepth + 8);
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::load_matrix_sync(b[j], &ws[wc * 32 + j * 16][0], kDepth + 8);
#pragma unroll
    for (int i = 0; i < 2; ++i)
#pragma unroll
      for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j)
      wmma::store_matrix_sync(&cs[warp][i * 16][j * 16], acc[i][j], 32 + 4, wmma::mem_row_major);
  __syncwarp();
  for (int l = lane; l < 32 * 32; l += 32) {
    const int r = row0 + wr * 32 + l / 32, c = col0 + wc * 32 + l % 32;
    if (r >= rows || c >= out) continue;
    float v = cs[warp][l / 32][l % 32] + (bias ? bias[c] : 0.0f);
    y[static_cast<int64_t>(r) * out + c] = relu ? fmaxf(v, 0.0f) : v;
  }
}

template <typename T>
__global__ void gemm_tc_kernel(const T* __restrict__ x, int rows, int in, const T* __restrict__ w,
                               const float* __restrict__ bias, int out, float* __restrict__ y, bool relu) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    __trap();  // never launched: gemm_tc sends bf16 on a pre-sm_80 device to gemm_simt_kernel
  } else
#endif
  {
    gemm_tc_tile(x, rows, in, w, bias, out, y, relu);
  }
}

__global__ void to_half_kernel(const float* __restrict__ src, __half* __restrict__ dst, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    dst[i] = __float2half_rn(src[i]);
}

__global__ void to_bf16_kernel(const float* __restrict__ src, __nv_bfloat16* __restrict__ dst, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    dst[i] = __float2bfloat16_rn(src[i]);
}

// Whether the current device has bf16 tensor cores (compute capability 8.0 or newer). Asked at each
// call: the current device may change between calls, and the attribute query costs well under a
// microsecond next to a GEMM launch. If it cannot be asked, the SIMT kernel is the safe choice.
bool bf16_tensor_cores() {
  int device = 0, major = 0;
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return major >= 8;
}

dim3 grid_for(int64_t rows, int64_t out) {
  return dim3(static_cast<unsigned>((out + kTile - 1) / kTile), static_cast<unsigned>((rows + kTile - 1) / kTile));
}

}  // namespace

void gemm_f32(const float* x, int64_t rows, int64_t in, const float* w, const float* bias, int64_t out, float* y,
              bool relu, cudaStream_t stream) {
  if (rows == 0 || out == 0) return;
  HRSEG_LAUNCH(gemm_simt_kernel<float>, grid_for(rows, out), 256, 0, stream)(
      x, static_cast<int>(rows), static_cast<int>(in), w, bias, static_cast<int>(out), y, relu);
  HRSEG_CUDA_LAUNCHED("gemm_f32");
}

void gemm_tc(const void* x, int64_t rows, int64_t in, const void* w, const float* bias, int64_t out, float* y,
             Half16 type, bool relu, cudaStream_t stream) {
  if (rows == 0 || out == 0) return;
  const int r = static_cast<int>(rows), i = static_cast<int>(in), o = static_cast<int>(out);
  if (type == Half16::BF16 && !bf16_tensor_cores()) {
    HRSEG_LAUNCH(gemm_simt_kernel<__nv_bfloat16>, grid_for(rows, out), 256, 0, stream)(
        static_cast<const __nv_bfloat16*>(x), r, i, static_cast<const __nv_bfloat16*>(w), bias, o, y, relu);
  } else if (type == Half16::F16)
    HRSEG_LAUNCH(gemm_tc_kernel<__half>, grid_for(rows, out), 128, 0, stream)(
        static_cast<const __half*>(x), r, i, static_cast<const __half*>(w), bias, o, y, relu);
  else
    HRSEG_LAUNCH(gemm_tc_kernel<__nv_bfloat16>, grid_for(rows, out), 128, 0, stream)(
        static_cast<const __nv_bfloat16*>(x), r, i, static_cast<const __nv_bfloat16*>(w), bias, o, y, relu);
  HRSEG_CUDA_LAUNCHED("gemm_tc");
}

void to_half16(const float* src, void* dst, int64_t n, Half16 type, cudaStream_t stream) {
  if (n == 0) return;
  const int blocks = static_cast<int>(std::min<int64_t>((n + 255) / 256, 4096));
  if (type == Half16::F16)
    HRSEG_LAUNCH(to_half_kernel, blocks, 256, 0, stream)(src, static_cast<__half*>(dst), n);
  else
    HRSEG_LAUNCH(to_bf16_kernel, blocks, 256, 0, stream)(src, static_cast<__nv_bfloat16*>(dst), n);
  HRSEG_CUDA_LAUNCHED("to_half16");
}

}  // namespace hrseg::cuda
