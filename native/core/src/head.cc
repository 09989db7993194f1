#include "hrseg/head.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "hrseg/error.h"
#include "hrseg/scratch.h"
#include "hrseg/stage_timer.h"

namespace hrseg {

namespace {

void require(bool ok, const std::string& message) {
  if (!ok) fail(ErrorCode::InvalidArgument, message);
}

}  // namespace

Dims Head::weight_dims(const std::string& wname, int64_t out, int64_t in) const {
  // A 1×1 convolution ([out, in, 1, 1], LLM-Seg's input projection) is the same linear map.
  if (st_->has(wname) && st_->shape(wname).size() == 4) return {out, in, 1, 1};
  return {out, in};
}

PackedWeight Head::load_linear(const std::string& prefix, int64_t out, int64_t in) const {
  const std::string wname = prefix + ".weight";
  DType dtype = DType::F32;
  const uint8_t* w = st_->stored(wname, weight_dims(wname, out, in), &dtype);  // 16-bit stays 16-bit
  return PackedWeight::from_stored(w, dtype, st_->f32_optional(prefix + ".bias", {out}), out, in);
}

Affine64 Head::load_affine(const std::string& prefix, int64_t out, int64_t in) const {
  const std::string wname = prefix + ".weight";
  return affine(st_->f32(wname, weight_dims(wname, out, in)), st_->f32_optional(prefix + ".bias", {out}), out, in);
}

int64_t Head::attention_width(const std::string& prefix, int64_t heads) const {
  const int64_t d = config_.dim;
  const std::string qname = prefix + ".q_proj.weight";
  const Dims& qs = st_->shape(qname);
  if (qs.size() != 2 || qs[1] != d)
    fail(ErrorCode::ModelFile, st_->label() + ": tensor '" + qname + "' has shape " + dims_to_string(qs) +
                                   ", expected [internal, " + std::to_string(d) + "]");
  const int64_t internal = qs[0];
  if (internal % heads != 0)
    fail(ErrorCode::ModelFile, st_->label() + ": " + prefix + " has width " + std::to_string(internal) +
                                   ", not divisible into " + std::to_string(heads) + " heads");
  return internal;
}

bool Head::has_out_proj(const std::string& prefix, int64_t internal, bool out_required) const {
  if (out_required || st_->has(prefix + ".out_proj.weight")) return true;
  if (internal != config_.dim)
    fail(ErrorCode::ModelFile, st_->label() + ": " + prefix + ".out_proj.weight is missing (needed: width " +
                                   std::to_string(internal) + " differs from " + std::to_string(config_.dim) + ")");
  return false;
}

AttentionWeights Head::load_attention(const std::string& prefix, int64_t heads, bool out_required) const {
  const int64_t d = config_.dim, internal = attention_width(prefix, heads);
  AttentionWeights a;
  a.heads = heads;
  a.q = load_linear(prefix + ".q_proj", internal, d);
  a.k = load_linear(prefix + ".k_proj", internal, d);
  a.v = load_linear(prefix + ".v_proj", internal, d);
  a.kv = PackedWeight::stack(a.k, a.v);
  if (has_out_proj(prefix, internal, out_required)) a.out = load_linear(prefix + ".out_proj", d, internal);
  return a;
}

FoldedAttention Head::load_folded_attention(const std::string& prefix, int64_t heads) const {
  const int64_t d = config_.dim, internal = attention_width(prefix, heads);
  const Affine64 q = load_affine(prefix + ".q_proj", internal, d), k = load_affine(prefix + ".k_proj", internal, d),
                 v = load_affine(prefix + ".v_proj", internal, d);
  if (!has_out_proj(prefix, internal, false)) return fold_attention(q, k, v, nullptr, heads);
  const Affine64 out = load_affine(prefix + ".out_proj", d, internal);
  return fold_attention(q, k, v, &out, heads);
}

Head::Norm Head::load_norm(const std::string& prefix) const {
  return Norm{st_->f32(prefix + ".weight", {config_.dim}), st_->f32(prefix + ".bias", {config_.dim})};
}

void validate_head_config(const HeadConfig& c) {
  require(c.feature_dim > 0 && c.dim > 0 && c.global_grid > 0 && c.magnification > 0 && c.pool_size > 0,
          "head config: featureDim, dim, globalGrid, magnification and poolSize must be positive");
  require(c.gamma >= 0 && c.gamma <= 1, "head config: gamma must be in [0, 1]");
  require(c.hre_layers >= 0 && c.hre_heads > 0 && c.fusion_blocks >= 0 && c.fusion_heads > 0,
          "head config: hreLayers and fusionBlocks must be >= 0, head counts > 0");
  require(c.tau >= 0 && c.tau <= 1 && c.top_k >= 1, "head config: tau must be in [0, 1] and topK >= 1");
  require(c.hrp || c.pool_hybrid, "head config: poolSource \"region\" needs HRP (hrp: true)");
}

Head::Head(std::shared_ptr<SafeTensors> weights, HeadConfig config) : st_(std::move(weights)), config_(config) {
  const HeadConfig& c = config_;
  validate_head_config(c);
  const int64_t d = c.dim;
  const Affine64 input_proj = load_affine("hrp.input_proj", d, c.feature_dim);
  input_proj_ = pack(input_proj);
  if (c.hrp)
    region_ =
        fold_region_attention(input_proj, load_affine("hrp.region_attn.q_proj", d, d),
                              load_affine("hrp.region_attn.k_proj", d, d), load_affine("hrp.region_attn.v_proj", d, d));
  for (int64_t l = 0; l < c.hre_layers; ++l) {
    const std::string p = "hre.layers." + std::to_string(l);
    hre_attn_.push_back(load_folded_attention(p + ".attn", c.hre_heads));
    hre_norm_.push_back(load_norm(p + ".norm"));
  }
  text_fc0_ = load_linear("text_hidden_fcs.0.0", c.hidden_size, c.hidden_size);
  text_fc2_ = load_linear("text_hidden_fcs.0.2", d, c.hidden_size);
  for (int64_t b = 0; b < c.fusion_blocks; ++b) {
    const std::string p = "fusion.layers." + std::to_string(b);
    FusionBlock f;
    f.self_attn = load_attention(p + ".self_attn", c.fusion_heads, true);
    f.norm1 = load_norm(p + ".norm1");
    f.token_to_image = load_attention(p + ".cross_attn_token_to_image", c.fusion_heads, true);
    f.norm2 = load_norm(p + ".norm2");
    f.lin1 = load_linear(p + ".mlp.lin1", c.fusion_mlp_dim, d);
    f.lin2 = load_linear(p + ".mlp.lin2", d, c.fusion_mlp_dim);
    f.norm3 = load_norm(p + ".norm3");
    f.image_to_token = load_attention(p + ".cross_attn_image_to_token", c.fusion_heads, true);
    f.norm4 = load_norm(p + ".norm4");
    fusion_.push_back(std::move(f));
  }
  final_attn_ = load_attention("fusion.final_attn_token_to_image", c.fusion_heads, true);
  final_norm_ = load_norm("fusion.norm_final_attn");
  iop0_ = load_linear("iop_head.layers.0", c.iop_hidden, d);
  iop1_ = load_linear("iop_head.layers.1", 1, c.iop_hidden);
  embed0_ = load_linear("embed_head.layers.0", c.embed_hidden, d);
  embed1_ = load_linear("embed_head.layers.1", d, c.embed_hidden);
}

ImageFeatures Head::image_step(const float* fg, const float* fl, const uint8_t* masks, int64_t K, int64_t H, int64_t W,
                               const CancelToken* cancel) const {
  const HeadConfig& c = config_;
  const int64_t d = c.dim, ng = c.global_grid;
  require(K >= 0 && H > 0 && W > 0, "proposals: need K >= 0 masks of positive height and width");
  ImageFeatures out;
  StageTimer timer("image step");
  auto xg = scratch<float>(static_cast<size_t>(ng * ng * d));
  linear(fg, ng * ng, input_proj_, xg.get());
  timer.lap("global input projection");
  check_cancel(cancel);
  out.hybrid = Tensor(DType::F32, {ng * ng, d});
  if (c.hrp) {
    out.region = Tensor(DType::F32, {ng * ng, d});
    region_attention_folded(xg.get(), fl, ng, c.magnification, region_, out.region.as<float>());
    timer.lap("region attention");
    check_cancel(cancel);
    hybrid_mix(xg.get(), out.region.as<float>(), ng * ng * d, c.gamma, out.hybrid.as<float>());
  } else {
    out.region = Tensor(DType::F32, {0, d});
    std::memcpy(out.hybrid.as<float>(), xg.get(), sizeof(float) * ng * ng * d);  // F_h = X_g (LLM-Seg)
  }
  out.m_hrp = Tensor(DType::F32, {K, d});
  mask_pool(masks, K, H, W, (c.pool_hybrid ? out.hybrid : out.region).as<float>(), ng, d, c.pool_size, c.mask_resize,
            c.pool_pulled_back, out.m_hrp.as<float>());
  timer.lap("mask pooling");
  check_cancel(cancel);
  out.m_hre = Tensor(DType::F32, {K, d});
  if (K > 0) std::memcpy(out.m_hre.as<float>(), out.m_hrp.as<float>(), sizeof(float) * K * d);
  std::vector<float> a(static_cast<size_t>(K * d));
  // F_h is every layer's key/value source: packed once as the right operand of Σ p·F_h.
  const PackedWeight hybrid =
      K > 0 && !hre_attn_.empty() ? PackedWeight(out.hybrid.as<float>(), d, ng * ng, 1, d) : PackedWeight();
  for (size_t l = 0; l < hre_attn_.size() && K > 0; ++l) {
    attention_folded(hre_attn_[l], out.m_hre.as<float>(), K, out.hybrid.as<float>(), hybrid, ng * ng, a.data());
    add_layer_norm(out.m_hre.as<float>(), a.data(), K, d, hre_norm_[l].weight, hre_norm_[l].bias);
    check_cancel(cancel);
  }
  timer.lap("HRE");
  return out;
}

InstructionOutput Head::instruction_step(const float* m_hre, int64_t K, const float* h_seg, int64_t S,
                                         const uint8_t* masks, int64_t H, int64_t W, const SelectionOverride& sel,
                                         const CancelToken* cancel) const {
  const HeadConfig& c = config_;
  const int64_t d = c.dim;
  require(S >= 1, "hSeg: need at least one [SEG] embedding");
  const Strategy strategy = sel.set ? sel.strategy : c.strategy;
  const int64_t top_k = sel.set ? sel.top_k : c.top_k;
  const float tau = sel.set ? sel.tau : c.tau;
  const Fallback fallback = sel.set ? sel.fallback : c.fallback;

  InstructionOutput out;
  out.text = Tensor(DType::F32, {S, d});
  mlp2(text_fc0_, text_fc2_, h_seg, S, out.text.as<float>());
  out.embeddings = Tensor(DType::F32, {S, K, d});
  out.similarity = Tensor(DType::F32, {S, K});
  out.iop = Tensor(DType::F32, {S, K});
  out.masks = Tensor(DType::U8, {S, H, W});
  check_cancel(cancel);

  std::vector<float> q(static_cast<size_t>(K * d)), a(static_cast<size_t>(std::max<int64_t>(K, 1) * d)),
      mlp_out(static_cast<size_t>(K * d)), token(static_cast<size_t>(d)), iop_logit(static_cast<size_t>(K));
  for (int64_t s = 0; s < S; ++s) {
    const float* t = out.text.as<float>() + s * d;
    if (K == 0) {  // nothing to choose from: empty scores, empty mask
      out.selections.push_back(Selection{});
      continue;
    }
    std::memcpy(q.data(), m_hre, sizeof(float) * K * d);
    std::memcpy(token.data(), t, sizeof(float) * d);
    for (const FusionBlock& f : fusion_) {
      attention(f.self_attn, q.data(), K, q.data(), q.data(), K, a.data());
      add_layer_norm(q.data(), a.data(), K, d, f.norm1.weight, f.norm1.bias);
      attention(f.token_to_image, q.data(), K, token.data(), token.data(), 1, a.data());
      add_layer_norm(q.data(), a.data(), K, d, f.norm2.weight, f.norm2.bias);
      mlp2(f.lin1, f.lin2, q.data(), K, mlp_out.data());
      add_layer_norm(q.data(), mlp_out.data(), K, d, f.norm3.weight, f.norm3.bias);
      attention(f.image_to_token, token.data(), 1, q.data(), q.data(), K, a.data());
      add_layer_norm(token.data(), a.data(), 1, d, f.norm4.weight, f.norm4.bias);
      check_cancel(cancel);
    }
    attention(final_attn_, q.data(), K, token.data(), token.data(), 1, a.data());
    add_layer_norm(q.data(), a.data(), K, d, final_norm_.weight, final_norm_.bias);

    float* sim = out.similarity.as<float>() + s * K;
    float* iop = out.iop.as<float>() + s * K;
    float* emb = out.embeddings.as<float>() + s * K * d;
    mlp2(iop0_, iop1_, q.data(), K, iop_logit.data());
    for (int64_t k = 0; k < K; ++k) iop[k] = 1.0f / (1.0f + std::exp(-iop_logit[k]));
    mlp2(embed0_, embed1_, q.data(), K, emb);
    for (int64_t k = 0; k < K; ++k) sim[k] = cosine(t, emb + k * d, d);
    out.selections.push_back(select_proposals(sim, iop, K, strategy, top_k, tau, fallback));
    union_masks(masks, H, W, out.selections.back().chosen, out.masks.as<uint8_t>() + s * H * W);
    check_cancel(cancel);
  }
  return out;
}

}  // namespace hrseg
