// Attention core (SPEC.md 5 and 7) and LayerNorm. One block per (query, head): the scores over
// all keys live in shared memory (n ≤ 12k), softmax and the weighted sum follow in the same block.
#include <cmath>

#include "hrseg_cuda/check.h"
#include "hrseg_cuda/head_kernels.h"
#include "hrseg_cuda/launch.h"
#include "block_reduce.cuh"

namespace hrseg::cuda {

namespace {

// The kernel's static shared memory (red below): the launch's limit counts it with the dynamic.
constexpr size_t kStaticSmem = 32 * sizeof(float);

__global__ void attention_kernel(const float* __restrict__ q, int qs, const float* __restrict__ k, int ks,
                                 const float* __restrict__ v, int vs, int n, int dh, int dvh, int heads,
                                 float* __restrict__ ctx, int cs) {
  HRSEG_DYNAMIC_SHARED(float, smem);
  float* scores = smem;  // n
  float* qh = smem + n;  // dh
  __shared__ float red[kStaticSmem / sizeof(float)];
  const int i = blockIdx.x / heads, h = blockIdx.x % heads;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  const float scale = rsqrtf(static_cast<float>(dh));
  for (int e = threadIdx.x; e < dh; e += blockDim.x) qh[e] = q[static_cast<int64_t>(i) * qs + h * dh + e] * scale;
  __syncthreads();
  for (int j = warp; j < n; j += warps) {
    const float* kr = k + static_cast<int64_t>(j) * ks + h * dh;
    float s = 0.0f;
    for (int e = lane; e < dh; e += 32) s = fmaf(qh[e], kr[e], s);
    s = detail::warp_sum(s);
    if (lane == 0) scores[j] = s;
  }
  __syncthreads();
  float mx = -INFINITY;
  for (int j = threadIdx.x; j < n; j += blockDim.x) mx = fmaxf(mx, scores[j]);
  mx = detail::block_max(mx, red);
  float z = 0.0f;
  for (int j = threadIdx.x; j < n; j += blockDim.x) z += (scores[j] = expf(scores[j] - mx));
  z = detail::block_sum(z, red);
  const float inv = 1.0f / z;
  __syncthreads();
  for (int e = threadIdx.x; e < dvh; e += blockDim.x) {
    float acc = 0.0f;
    for (int j = 0; j < n; ++j) acc = fmaf(scores[j], v[static_cast<int64_t>(j) * vs + h * dvh + e], acc);
    ctx[static_cast<int64_t>(i) * cs + h * dvh + e] = acc * inv;
  }
}

__global__ void add_layer_norm_kernel(float* __restrict__ x, const float* __restrict__ a, int d,
                                      const float* __restrict__ gamma, const float* __restrict__ beta) {
  __shared__ double red[32];
  float* xr = x + static_cast<int64_t>(blockIdx.x) * d;
  const float* ar = a ? a + static_cast<int64_t>(blockIdx.x) * d : nullptr;
  double s = 0.0;
  for (int e = threadIdx.x; e < d; e += blockDim.x) {
    const float v = ar ? xr[e] + ar[e] : xr[e];
    xr[e] = v;
    s += v;
  }
  const double mean = detail::block_sum(s, red) / d;
  double ss = 0.0;
  for (int e = threadIdx.x; e < d; e += blockDim.x) ss += (xr[e] - mean) * (xr[e] - mean);
  const double var = detail::block_sum(ss, red) / d;
  const float inv = static_cast<float>(1.0 / sqrt(var + 1e-5)), mu = static_cast<float>(mean);
  for (int e = threadIdx.x; e < d; e += blockDim.x) xr[e] = (xr[e] - mu) * inv * gamma[e] + beta[e];
}

}  // namespace

int64_t attention_max_keys(int64_t dh) { return static_cast<int64_t>((96 * 1024 - kStaticSmem) / sizeof(float)) - dh; }

void attention_core(const float* q, int64_t qs, const float* k, int64_t ks, const float* v, int64_t vs, int64_t m,
                    int64_t n, int64_t D, int64_t Dv, int64_t heads, float* ctx, cudaStream_t stream) {
  if (m == 0) return;
  if (n < 1 || heads < 1 || D % heads || Dv % heads)
    throw Error(ErrorCode::InvalidArgument, "attention: need n >= 1 and widths divisible by the heads");
  const int64_t dh = D / heads, dvh = Dv / heads;
  const size_t smem = static_cast<size_t>(n + dh) * sizeof(float);
  if (n > attention_max_keys(dh)) throw Error(ErrorCode::InvalidArgument, "attention: too many keys for one block");
  // Static and dynamic shared memory together over 48 KiB need the attribute (the static part
  // alone made a launch between 48 KiB − 128 and 48 KiB of dynamic memory fail).
  if (smem + kStaticSmem > 48 * 1024)
    HRSEG_CUDA_CHECK(
        cudaFuncSetAttribute(attention_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  HRSEG_LAUNCH(attention_kernel, static_cast<unsigned>(m * heads), 128, smem, stream)(
      q, static_cast<int>(qs), k, static_cast<int>(ks), v, static_cast<int>(vs), static_cast<int>(n),
      static_cast<int>(dh), static_cast<int>(dvh), static_cast<int>(heads), ctx, static_cast<int>(Dv));
  HRSEG_CUDA_LAUNCHED("attention_core");
}

void add_layer_norm(float* x, const float* a, int64_t rows, int64_t d, const float* gamma, const float* beta,
                    cudaStream_t stream) {
  if (rows == 0) return;
  HRSEG_LAUNCH(add_layer_norm_kernel, static_cast<unsigned>(rows), 256, 0, stream)(x, a, static_cast<int>(d), gamma,
                                                                                   beta);
  HRSEG_CUDA_LAUNCHED("add_layer_norm");
}

}  // namespace hrseg::cuda
