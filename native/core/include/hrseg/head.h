// The HRSeg head: HRP and HRE over DINOv2 features and SAM proposals (the image step, reusable
// across instructions), then text projection, fusion, heads and selection (the instruction step).
// Weight names are listed in README.md ("head.safetensors").
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "hrseg/cancel.h"
#include "hrseg/head_ops.h"
#include "hrseg/safetensors.h"
#include "hrseg/tensor.h"

namespace hrseg {

struct HeadConfig {
  int64_t feature_dim = 1024;  // C
  int64_t dim = 256;           // d
  int64_t global_grid = 37;    // n_g
  int64_t magnification = 2;   // N
  // HRP's region attention and γ-mix. false (LLM-Seg): F_h = X_g, no local features are read and
  // no region-attention weights are needed.
  bool hrp = true;
  float gamma = 0.8f;
  bool pool_hybrid = true;  // poolSource: "hybrid" (F_h) or "region" (F_r)
  int64_t pool_size = 256;  // P
  MaskResize mask_resize = MaskResize::BilinearAntialias;
  bool pool_pulled_back = true;  // the fast form of mask pooling; false = the definition
  int64_t hre_layers = 2;        // L
  int64_t hre_heads = 1;
  int64_t hidden_size = 4096;  // H
  int64_t fusion_blocks = 2;
  int64_t fusion_heads = 8;
  int64_t fusion_mlp_dim = 2048;
  int64_t iop_hidden = 128;
  int64_t embed_hidden = 2048;
  Strategy strategy = Strategy::TopkSimIop;
  int64_t top_k = 10;
  float tau = 0.7f;
  Fallback fallback = Fallback::Top1Sim;
};

struct ImageFeatures {
  Tensor region;  // F_r [ng², d]; [0, d] when HRP is off
  Tensor hybrid;  // F_h [ng², d]
  Tensor m_hrp;   // [K, d]
  Tensor m_hre;   // [K, d]
};

struct InstructionOutput {
  Tensor text;                        // t, the projected [SEG] embedding [S, d]
  Tensor embeddings;                  // e_k per [SEG] [S, K, d]
  Tensor similarity;                  // S_sim [S, K]
  Tensor iop;                         // S_iop [S, K]
  Tensor masks;                       // final masks [S, H, W] (uint8 0/1)
  std::vector<Selection> selections;  // per [SEG]
};

struct SelectionOverride {
  bool set = false;
  Strategy strategy = Strategy::TopkSimIop;
  int64_t top_k = 10;
  float tau = 0.7f;
  Fallback fallback = Fallback::Top1Sim;
};

// Throws Error(InvalidArgument) for a config no head can run (non-positive sizes, γ or τ out of
// range). Head and its CUDA twin both call it.
void validate_head_config(const HeadConfig& config);

class Head {
 public:
  // Validates and packs every weight; throws Error(ModelFile) naming the first bad tensor.
  Head(std::shared_ptr<SafeTensors> weights, HeadConfig config);

  const HeadConfig& config() const { return config_; }

  // fg [ng², C], fl [(N·ng)², C] (unread, may be null, when HRP is off), masks [K, H, W] → HRP and
  // HRE outputs.
  ImageFeatures image_step(const float* fg, const float* fl, const uint8_t* masks, int64_t K, int64_t H, int64_t W,
                           const CancelToken* cancel) const;

  // m_hre [K, d], h_seg [S, hidden], masks [K, H, W] → scores, selections and masks per [SEG].
  InstructionOutput instruction_step(const float* m_hre, int64_t K, const float* h_seg, int64_t S, const uint8_t* masks,
                                     int64_t H, int64_t W, const SelectionOverride& sel,
                                     const CancelToken* cancel) const;

 private:
  struct Norm {
    const float* weight = nullptr;
    const float* bias = nullptr;
  };
  struct FusionBlock {
    AttentionWeights self_attn, token_to_image, image_to_token;
    Norm norm1, norm2, norm3, norm4;
    PackedWeight lin1, lin2;
  };

  Dims weight_dims(const std::string& wname, int64_t out, int64_t in) const;
  PackedWeight load_linear(const std::string& prefix, int64_t out, int64_t in) const;
  Affine64 load_affine(const std::string& prefix, int64_t out, int64_t in) const;
  int64_t attention_width(const std::string& prefix, int64_t heads) const;
  bool has_out_proj(const std::string& prefix, int64_t internal, bool out_required) const;
  AttentionWeights load_attention(const std::string& prefix, int64_t heads, bool out_required) const;
  FoldedAttention load_folded_attention(const std::string& prefix, int64_t heads) const;
  Norm load_norm(const std::string& prefix) const;

  std::shared_ptr<SafeTensors> st_;
  HeadConfig config_;
  PackedWeight input_proj_;
  RegionFold region_;                      // region attention, folded (head_ops.h)
  std::vector<FoldedAttention> hre_attn_;  // HRE layers, folded
  std::vector<Norm> hre_norm_;
  PackedWeight text_fc0_, text_fc2_;
  std::vector<FusionBlock> fusion_;
  AttentionWeights final_attn_;
  Norm final_norm_;
  PackedWeight iop0_, iop1_, embed0_, embed1_;
};

}  // namespace hrseg
