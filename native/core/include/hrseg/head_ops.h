// The operations of the HRSeg head (SPEC.md sections 4, 5, 7, 8), as plain functions over
// row-major float32 arrays. Head (head.h) strings them together; tests call them one by one.
#pragma once
#include <cstdint>
#include <vector>

#include "hrseg/fold.h"
#include "hrseg/linear.h"
#include "hrseg/mask_resize.h"

namespace hrseg {

// ---- HRP (SPEC 4) ----

// Region attention (eq. 7-8): global cell (i,j) attends over its N×N window of local cells.
// xg [ng², d], xl [(N·ng)², d]; wq: d→d, wkv: d→2d (k rows then v rows); out fr [ng², d].
void region_attention(const float* xg, const float* xl, int64_t ng, int64_t N, int64_t d, const PackedWeight& wq,
                      const PackedWeight& wkv, float* fr);

// F_h = γ·X_g + (1−γ)·F_r over n elements.
void hybrid_mix(const float* xg, const float* fr, int64_t n, float gamma, float* fh);

// Mask pooling (eq. 10): masks [K,H,W] (0/1), src [ng², d] → out [K, d]. Each proposal is resized
// to P×P in its padded square frame by `resize` (mask_resize.h).
// pulled_back = true multiplies the weights pulled back through the bilinear upsampling onto the
// ng² grid; false follows the definition (upsample src to P×P, then pool). They agree to rounding.
void mask_pool(const uint8_t* masks, int64_t K, int64_t H, int64_t W, const float* src, int64_t ng, int64_t d,
               int64_t P, MaskResize resize, bool pulled_back, float* out);

// ---- attention building blocks (SPEC 5, 7) ----

struct AttentionWeights {
  PackedWeight q, k, v, out;  // out may be empty (no output projection)
  PackedWeight kv;            // k and v stacked, for sources that give both (may be empty)
  int64_t heads = 1;
  int64_t internal() const { return q.out(); }
  int64_t out_dim() const { return out.empty() ? v.out() : out.out(); }
};

// out [m, out_dim] = Attention(xq [m, d], xk [n, d], xv [n, d]) with per-head scale 1/√(internal/heads).
void attention(const AttentionWeights& w, const float* xq, int64_t m, const float* xk, const float* xv, int64_t n,
               float* out);

// ---- The same attentions folded (fold.h): what the image step runs ----

// Region attention with the query carried into the raw feature space: q̂ = query(X_g) [ng², C]
// scores each global cell's N² raw local features fl [(N·ng)², C] directly, and
// F_r = value(Σ p·f). X_l and the keys and values of all (N·ng)² local cells are never made:
// at the default shapes that is 4.5 GFLOP of the image step's 6.1 replaced by 1.4.
struct RegionFold {
  PackedWeight query;  // X_g row → q̂: Wᵢₙᵀ·Wₖᵀ·(W_q·x + b_q)/√d, [C, d]
  PackedWeight value;  // mean raw feature → F_r row: W_v·(Wᵢₙ·f + bᵢₙ) + b_v, [d, C]
};
RegionFold fold_region_attention(const Affine64& input_proj, const Affine64& q, const Affine64& k, const Affine64& v);
void region_attention_folded(const float* xg, const float* fl, int64_t ng, int64_t N, const RegionFold& f, float* fr);

// HRE's attention (SPEC 5) without projecting the n keys and values: per head the query is
// carried into the source's space and the weighted mean of the source is projected once.
struct FoldedAttention {
  int64_t heads = 1, dim = 0;  // dim: width of the key/value source
  PackedWeight query;          // [heads·dim, d_q]: per head W_kₕᵀ·(W_qₕ·x + b_qₕ)/√dₕ
  PackedWeight value;          // [D_v, dim]: the value projection
  PackedWeight out;            // may be empty
};
FoldedAttention fold_attention(const Affine64& q, const Affine64& k, const Affine64& v, const Affine64* out,
                               int64_t heads);
// x [n, dim] is the key/value source and x_packed the same matrix as a weight
// (PackedWeight(x, dim, n, 1, dim)), packed once by the caller and shared across layers.
void attention_folded(const FoldedAttention& w, const float* xq, int64_t m, const float* x,
                      const PackedWeight& x_packed, int64_t n, float* out);

// x = LayerNorm(x + a) row-wise over d, eps 1e-5, in place on x.
void add_layer_norm(float* x, const float* a, int64_t rows, int64_t d, const float* gamma, const float* beta);

// Two linear layers with ReLU between: out = l1(ReLU(l0(x))).
void mlp2(const PackedWeight& l0, const PackedWeight& l1, const float* x, int64_t rows, float* out);

// ---- selection (SPEC 8) ----

enum class Strategy { Top1Sim, Top1Iop, IopThreshold, TopkSim, TopkSimIop };

// What a rule that chooses nothing falls back to (SPEC 8).
enum class Fallback { Top1Sim, None };

struct Selection {
  std::vector<int64_t> chosen;  // proposal indices, ascending
  bool fallback = false;        // the rule chose nothing and top1-sim was used instead
};

// Comparisons with τ are strict (S_iop > τ); ties in a ranking keep the lower index first. With
// Fallback::None an empty choice stays empty (LLM-Seg's evaluation: the mask is empty).
Selection select_proposals(const float* sim, const float* iop, int64_t K, Strategy strategy, int64_t k, float tau,
                           Fallback fallback);

// out [H,W] = OR of masks[chosen].
void union_masks(const uint8_t* masks, int64_t H, int64_t W, const std::vector<int64_t>& chosen, uint8_t* out);

// cos(a, b) as torch.cosine_similarity: a·b / (max(‖a‖, 1e-8)·max(‖b‖, 1e-8)).
float cosine(const float* a, const float* b, int64_t d);

}  // namespace hrseg
