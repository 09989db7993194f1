// Mask pooling (SPEC.md 4.4) in the pulled-back form: each proposal's resized weights in the padded
// frame (the tap tables of hrseg/mask_resize.h: bilinear-antialias or area), pulled back through the
// bilinear upsampling ng → P onto the ng² grid (in float64, as the CPU does), then a weighted sum
// of the features normalised by the mask's total weight.
#include <cmath>

#include "hrseg_cuda/check.h"
#include "hrseg_cuda/grid_limits.h"
#include "hrseg_cuda/head_kernels.h"
#include "hrseg_cuda/launch.h"
#include "block_reduce.cuh"

namespace hrseg::cuda {

namespace {

// One block per (output row oy, proposal k), a thread per output column: the sums of
// MaskResizer::weights in its order, products and sums rounded separately (no fused multiply-add),
// so the weights equal the CPU's bit for bit.
__global__ void resize_weights_kernel(const uint8_t* __restrict__ masks, int H, int W, int P, ResizeTaps ty,
                                      ResizeTaps tx, float* __restrict__ w) {
  const int oy = blockIdx.x, k = blockIdx.y;
  const uint8_t* m = masks + static_cast<int64_t>(k) * H * W;
  const int64_t y0 = ty.first[oy], ny = ty.count[oy];
  const double* wy = ty.weight + ty.offset[oy];
  for (int ox = threadIdx.x; ox < P; ox += blockDim.x) {
    const int64_t x0 = tx.first[ox], nx = tx.count[ox];
    const double* wx = tx.weight + tx.offset[ox];
    double acc = 0.0;
    for (int64_t t = 0; t < ny; ++t) {
      const uint8_t* row = m + (y0 + t) * W + x0;
      double r = 0.0;
      for (int64_t u = 0; u < nx; ++u)
        if (row[u]) r = __dadd_rn(r, wx[u]);
      acc = __dadd_rn(acc, __dmul_rn(wy[t], r));
    }
    w[(static_cast<int64_t>(k) * P + oy) * P + ox] = static_cast<float>(acc);
  }
}

// PyTorch's bilinear tap for output p (align_corners = false), as the CPU computes it.
__device__ inline void tap(int p, int P, int ng, int& i0, int& i1, float& l0, float& l1) {
  double src = (static_cast<double>(p) + 0.5) * (static_cast<double>(ng) / static_cast<double>(P)) - 0.5;
  if (src < 0) src = 0;
  i0 = min(static_cast<int>(src), ng - 1);
  i1 = min(i0 + 1, ng - 1);
  const double f = src - static_cast<double>(i0);
  l0 = static_cast<float>(1.0 - f);
  l1 = static_cast<float>(f);
}

// The outputs p that read grid index j lie near (j + 0.5)·P/ng; scan a small range around it.
__device__ inline double pull(const float* row, int j, int P, int ng) {
  const double c = (j + 0.5) * static_cast<double>(P) / ng;
  const int span = P / ng + 3;
  const int p0 = max(0, static_cast<int>(c) - span), p1 = min(P, static_cast<int>(c) + span + 1);
  double acc = 0.0;
  for (int p = p0; p < p1; ++p) {
    int i0, i1;
    float l0, l1;
    tap(p, P, ng, i0, i1, l0, l1);
    if (i0 == j) acc += row[p] * static_cast<double>(l0);
    if (i1 == j) acc += row[p] * static_cast<double>(l1);
  }
  return acc;
}

// t[k, y, j] = Σ_x w[k, y, x]·Ux[x, j]: block per (y, k), thread per j.
__global__ void pull_columns_kernel(const float* __restrict__ w, int P, int ng, double* __restrict__ t) {
  const int y = blockIdx.x, k = blockIdx.y;
  const float* row = w + (static_cast<int64_t>(k) * P + y) * P;
  for (int j = threadIdx.x; j < ng; j += blockDim.x)
    t[(static_cast<int64_t>(k) * P + y) * ng + j] = pull(row, j, P, ng);
}

// g[k, i, j] = Σ_y Uy[y, i]·t[k, y, j]: block per (i, k), thread per j. Also total[k] = Σ w.
__global__ void pull_rows_kernel(const double* __restrict__ t, int P, int ng, float* __restrict__ g) {
  const int i = blockIdx.x, k = blockIdx.y;
  const double c = (i + 0.5) * static_cast<double>(P) / ng;
  const int span = P / ng + 3;
  const int y0 = max(0, static_cast<int>(c) - span), y1 = min(P, static_cast<int>(c) + span + 1);
  for (int j = threadIdx.x; j < ng; j += blockDim.x) {
    double acc = 0.0;
    for (int y = y0; y < y1; ++y) {
      int i0, i1;
      float l0, l1;
      tap(y, P, ng, i0, i1, l0, l1);
      const double v = t[(static_cast<int64_t>(k) * P + y) * ng + j];
      if (i0 == i) acc += l0 * v;
      if (i1 == i) acc += l1 * v;
    }
    g[(static_cast<int64_t>(k) * ng + i) * ng + j] = static_cast<float>(acc);
  }
}

// out[k, e] = Σ_c g[k, c]·src[c, e] / (Σ w[k] + 1e-8): block per k.
__global__ void pooled_sum_kernel(const float* __restrict__ g, const float* __restrict__ w, int P, int cells,
                                  const float* __restrict__ src, int d, float* __restrict__ out) {
  __shared__ double red[32];
  const int k = blockIdx.x;
  double total = 0.0;
  for (int p = threadIdx.x; p < P * P; p += blockDim.x) total += w[static_cast<int64_t>(k) * P * P + p];
  total = detail::block_sum(total, red);
  const float norm = static_cast<float>(1.0 / (total + 1e-8));
  const float* gk = g + static_cast<int64_t>(k) * cells;
  for (int e = threadIdx.x; e < d; e += blockDim.x) {
    float acc = 0.0f;
    for (int c = 0; c < cells; ++c) acc = fmaf(gk[c], src[static_cast<int64_t>(c) * d + e], acc);
    out[static_cast<int64_t>(k) * d + e] = acc * norm;
  }
}

}  // namespace

void resize_weights(const uint8_t* masks, int64_t K, int64_t H, int64_t W, int64_t P, ResizeTaps y, ResizeTaps x,
                    float* w, cudaStream_t stream) {
  if (K == 0) return;
  in_grid_y_slices(K, [&](int64_t k0, unsigned count) {
    HRSEG_LAUNCH(resize_weights_kernel, dim3(static_cast<unsigned>(P), count), 256, 0, stream)(
        masks + k0 * H * W, static_cast<int>(H), static_cast<int>(W), static_cast<int>(P), y, x, w + k0 * P * P);
    HRSEG_CUDA_LAUNCHED("resize_weights");
  });
}

void mask_pool_pulled_back(const float* w, int64_t K, int64_t P, const float* src, int64_t ng, int64_t d,
                           float* scratch, float* out, cudaStream_t stream) {
  if (K == 0) return;
  // scratch: t as doubles [K, P, ng] (2·K·P·ng floats), then g [K, ng²].
  double* t = reinterpret_cast<double*>(scratch);
  float* g = scratch + 2 * K * P * ng;
  const int n = static_cast<int>(ng), p = static_cast<int>(P);
  in_grid_y_slices(K, [&](int64_t k0, unsigned count) {
    HRSEG_LAUNCH(pull_columns_kernel, dim3(static_cast<unsigned>(P), count), 64, 0, stream)(w + k0 * P * P, p, n,
                                                                                            t + k0 * P * ng);
    HRSEG_CUDA_LAUNCHED("pull_columns");
    HRSEG_LAUNCH(pull_rows_kernel, dim3(static_cast<unsigned>(ng), count), 64, 0, stream)(t + k0 * P * ng, p, n,
                                                                                          g + k0 * ng * ng);
    HRSEG_CUDA_LAUNCHED("pull_rows");
  });
  HRSEG_LAUNCH(pooled_sum_kernel, static_cast<unsigned>(K), 256, 0, stream)(g, w, p, n * n, src, static_cast<int>(d),
                                                                            out);
  HRSEG_CUDA_LAUNCHED("pooled_sum");
}

}  // namespace hrseg::cuda
