// The HRSeg head's operations on the GPU (SPEC.md sections 4, 5, 7), as plain launchers over
// device arrays, row-major fp32, each the counterpart of a function in native/core/head_ops.h.
// Projections go through gemm.h; these are the fused pieces around them.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

namespace hrseg::cuda {

// Region attention fused with the γ-mix: q [ng², d] (X_g W_q + b), kv [(N·ng)², 2d] (k then v per
// row), xg [ng², d] → fr [ng², d] = softmax(q kᵀ/√d) v over each cell's N×N window,
// fh = γ·xg + (1−γ)·fr. One pass: scores, softmax and the weighted sum stay in shared memory.
void region_attention(const float* q, const float* kv, const float* xg, int64_t ng, int64_t N, int64_t d, float gamma,
                      float* fr, float* fh, cudaStream_t stream);

// Multi-head attention core: q [m, D] (row stride qs), k [n, D] (stride ks), v [n, Dv] (stride vs)
// → ctx [m, Dv], per head softmax(q kᵀ/√(D/heads)) v. Projections are separate GEMMs.
// The most keys attention_core takes for a head width `dh` (its scores live in one block's
// shared memory); callers check their sizes against it before queuing anything.
int64_t attention_max_keys(int64_t dh);

void attention_core(const float* q, int64_t qs, const float* k, int64_t ks, const float* v, int64_t vs, int64_t m,
                    int64_t n, int64_t D, int64_t Dv, int64_t heads, float* ctx, cudaStream_t stream);

// x = LayerNorm(x + a) per row (eps 1e-5), in place; a may be null (plain LayerNorm).
void add_layer_norm(float* x, const float* a, int64_t rows, int64_t d, const float* gamma, const float* beta,
                    cudaStream_t stream);

// One axis of a mask resize (hrseg/mask_resize.h's ResizeAxis) in device memory: output o reads
// inputs first[o] … first[o]+count[o]−1 with weights weight[offset[o] + t].
struct ResizeTaps {
  const int64_t* first;
  const int64_t* count;
  const int64_t* offset;
  const double* weight;
};

// Each proposal's pooling weights in its padded square frame, resized to P×P by the tables (either
// maskResize form): masks [K, H, W] uint8 → w [K, P, P], equal bit for bit to MaskResizer::weights.
void resize_weights(const uint8_t* masks, int64_t K, int64_t H, int64_t W, int64_t P, ResizeTaps y, ResizeTaps x,
                    float* w, cudaStream_t stream);

// Mask pooling in the pulled-back form: the weights w [K, P, P] are pulled back through the
// bilinear upsampling (ng → P, align_corners = false) onto the ng² grid, then
// out[k] = Σ g_k · src / (Σ w_k + 1e-8). src [ng², d] → out [K, d]. `scratch` holds K·(2·P·ng + ng²) floats.
void mask_pool_pulled_back(const float* w, int64_t K, int64_t P, const float* src, int64_t ng, int64_t d,
                           float* scratch, float* out, cudaStream_t stream);

// out[r] = cos(a[r % a_rows], b[r]) over d (torch.cosine_similarity's epsilon 1e-8), rows of b.
void cosine_rows(const float* a, int64_t a_rows, const float* b, int64_t rows, int64_t d, float* out,
                 cudaStream_t stream);

// The local feature map from DINOv2's crop tokens, on the device: tiles [N², g², C] (crop r·N + c,
// row-major tokens) → local [(N·g)², C] with crop (r, c) at rows r·g…, columns c·g… (as
// lib/pipeline/dino.ts stitches them on the host).
void stitch_tiles(const float* tiles, int64_t N, int64_t grid, int64_t C, float* local, cudaStream_t stream);

// out[i] = 1 / (1 + exp(−x[i])).
void sigmoid(const float* x, int64_t n, float* out, cudaStream_t stream);

// out [H·W] = OR over the chosen proposals of masks [K, H·W] (uint8, 0/1).
void union_masks(const uint8_t* masks, int64_t hw, const int32_t* chosen, int64_t count, uint8_t* out,
                 cudaStream_t stream);

}  // namespace hrseg::cuda
