// Region attention (SPEC.md 4.2) fused with the γ-mix (4.3): one block per global cell; a warp
// per key computes the N² scores, the softmax stays in shared memory, and every thread then
// produces some of the d outputs of both F_r and F_h. q, k and v come from the projection GEMMs.
#include <cmath>

#include "hrseg_cuda/check.h"
#include "hrseg_cuda/head_kernels.h"
#include "hrseg_cuda/launch.h"
#include "block_reduce.cuh"

namespace hrseg::cuda {

namespace {

constexpr int kMaxWindow = 64;  // N ≤ 8

__global__ void region_attention_kernel(const float* __restrict__ q, const float* __restrict__ kv,
                                        const float* __restrict__ xg, int ng, int N, int d, float gamma,
                                        float* __restrict__ fr, float* __restrict__ fh) {
  __shared__ float p[kMaxWindow];
  const int c = blockIdx.x, i = c / ng, j = c % ng, nl = N * ng;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;
  const float scale = rsqrtf(static_cast<float>(d));
  const float* qc = q + static_cast<int64_t>(c) * d;
  for (int w = warp; w < N * N; w += warps) {
    const int a = w / N, b = w % N;
    const float* kr = kv + (static_cast<int64_t>(N * i + a) * nl + (N * j + b)) * 2 * d;
    float s = 0.0f;
    for (int e = lane; e < d; e += 32) s = fmaf(qc[e], kr[e], s);
    s = detail::warp_sum(s);
    if (lane == 0) p[w] = s * scale;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    float mx = -INFINITY, z = 0.0f;
    for (int w = 0; w < N * N; ++w) mx = fmaxf(mx, p[w]);
    for (int w = 0; w < N * N; ++w) z += (p[w] = expf(p[w] - mx));
    for (int w = 0; w < N * N; ++w) p[w] /= z;
  }
  __syncthreads();
  for (int e = threadIdx.x; e < d; e += blockDim.x) {
    float acc = 0.0f;
    for (int w = 0; w < N * N; ++w) {
      const int a = w / N, b = w % N;
      acc = fmaf(p[w], kv[(static_cast<int64_t>(N * i + a) * nl + (N * j + b)) * 2 * d + d + e], acc);
    }
    const int64_t o = static_cast<int64_t>(c) * d + e;
    fr[o] = acc;
    fh[o] = gamma * xg[o] + (1.0f - gamma) * acc;
  }
}

}  // namespace

void region_attention(const float* q, const float* kv, const float* xg, int64_t ng, int64_t N, int64_t d, float gamma,
                      float* fr, float* fh, cudaStream_t stream) {
  if (N < 1 || N * N > kMaxWindow) throw Error(ErrorCode::InvalidArgument, "region attention: N must be in [1, 8]");
  if (ng == 0) return;
  HRSEG_LAUNCH(region_attention_kernel, static_cast<unsigned>(ng * ng), 128, 0, stream)(
      q, kv, xg, static_cast<int>(ng), static_cast<int>(N), static_cast<int>(d), gamma, fr, fh);
  HRSEG_CUDA_LAUNCHED("region_attention");
}

}  // namespace hrseg::cuda
