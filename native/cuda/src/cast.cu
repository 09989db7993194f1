// Widening, narrowing and thresholding for plugin I/O (cast.h). Grid-stride loops: n can exceed a
// grid's reach for large masks.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "hrseg_cuda/cast.h"
#include "hrseg_cuda/check.h"
#include "hrseg_cuda/launch.h"

namespace hrseg::cuda {

namespace {

template <typename T>
__device__ __forceinline__ float load_float(const T* p, int64_t i);
template <>
__device__ __forceinline__ float load_float<float>(const float* p, int64_t i) {
  return p[i];
}
template <>
__device__ __forceinline__ float load_float<__half>(const __half* p, int64_t i) {
  return __half2float(p[i]);
}
template <>
__device__ __forceinline__ float load_float<__nv_bfloat16>(const __nv_bfloat16* p, int64_t i) {
  return __bfloat162float(p[i]);
}

template <typename T>
__device__ __forceinline__ void store_float(T* p, int64_t i, float v);
template <>
__device__ __forceinline__ void store_float<float>(float* p, int64_t i, float v) {
  p[i] = v;
}
template <>
__device__ __forceinline__ void store_float<__half>(__half* p, int64_t i, float v) {
  p[i] = __float2half_rn(v);
}
template <>
__device__ __forceinline__ void store_float<__nv_bfloat16>(__nv_bfloat16* p, int64_t i, float v) {
  p[i] = __float2bfloat16_rn(v);
}

template <typename T>
__global__ void widen_kernel(const T* __restrict__ src, int64_t n, float* __restrict__ dst) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    dst[i] = load_float(src, i);
}

template <typename T>
__global__ void narrow_kernel(const float* __restrict__ src, int64_t n, T* __restrict__ dst) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    store_float(dst, i, src[i]);
}

template <typename T>
__global__ void threshold_kernel(const T* __restrict__ src, int64_t n, uint8_t* __restrict__ dst) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    dst[i] = load_float(src, i) > 0.5f ? 1 : 0;
}

constexpr int kThreads = 256;
unsigned grid_for(int64_t n) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 65535 ? blocks : 65535);
}

}  // namespace

void widen_to_float(const void* src, ElementType type, int64_t n, float* dst, cudaStream_t stream) {
  if (n <= 0) return;
  switch (type) {
    case ElementType::Float32:
      HRSEG_LAUNCH(widen_kernel<float>, grid_for(n), kThreads, 0, stream)(static_cast<const float*>(src), n, dst);
      break;
    case ElementType::Float16:
      HRSEG_LAUNCH(widen_kernel<__half>, grid_for(n), kThreads, 0, stream)(static_cast<const __half*>(src), n, dst);
      break;
    case ElementType::BFloat16:
      HRSEG_LAUNCH(widen_kernel<__nv_bfloat16>, grid_for(n), kThreads, 0, stream)(
          static_cast<const __nv_bfloat16*>(src), n, dst);
      break;
  }
  HRSEG_CUDA_LAUNCHED("widen_to_float");
}

void narrow_from_float(const float* src, int64_t n, ElementType type, void* dst, cudaStream_t stream) {
  if (n <= 0) return;
  switch (type) {
    case ElementType::Float32:
      HRSEG_LAUNCH(narrow_kernel<float>, grid_for(n), kThreads, 0, stream)(src, n, static_cast<float*>(dst));
      break;
    case ElementType::Float16:
      HRSEG_LAUNCH(narrow_kernel<__half>, grid_for(n), kThreads, 0, stream)(src, n, static_cast<__half*>(dst));
      break;
    case ElementType::BFloat16:
      HRSEG_LAUNCH(narrow_kernel<__nv_bfloat16>, grid_for(n), kThreads, 0, stream)(src, n,
                                                                                   static_cast<__nv_bfloat16*>(dst));
      break;
  }
  HRSEG_CUDA_LAUNCHED("narrow_from_float");
}

void threshold_to_mask(const void* src, ElementType type, int64_t n, uint8_t* dst, cudaStream_t stream) {
  if (n <= 0) return;
  switch (type) {
    case ElementType::Float32:
      HRSEG_LAUNCH(threshold_kernel<float>, grid_for(n), kThreads, 0, stream)(static_cast<const float*>(src), n, dst);
      break;
    case ElementType::Float16:
      HRSEG_LAUNCH(threshold_kernel<__half>, grid_for(n), kThreads, 0, stream)(static_cast<const __half*>(src), n, dst);
      break;
    case ElementType::BFloat16:
      HRSEG_LAUNCH(threshold_kernel<__nv_bfloat16>, grid_for(n), kThreads, 0, stream)(
          static_cast<const __nv_bfloat16*>(src), n, dst);
      break;
  }
  HRSEG_CUDA_LAUNCHED("threshold_to_mask");
}

}  // namespace hrseg::cuda
