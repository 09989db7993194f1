#include "hrseg_cuda/head_cuda.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "hrseg/error.h"
#include "hrseg_cuda/check.h"
#include "hrseg_cuda/device_buffer.h"
#include "hrseg_cuda/gemm.h"
#include "hrseg_cuda/head_kernels.h"
#include "hrseg_cuda/resize_tables.h"

namespace hrseg::cuda {

namespace {

struct DLinear {
  DeviceBuffer<float> w, b;
  int64_t out = 0, in = 0;
  bool has_bias = false;
  void run(const float* x, int64_t rows, float* y, bool relu, cudaStream_t s) const {
    gemm_f32(x, rows, in, w.get(), has_bias ? b.get() : nullptr, out, y, relu, s);
  }
};

struct DAttention {
  DLinear q, k, v, out;
  int64_t heads = 1;
  bool has_out = false;
};

struct DNorm {
  DeviceBuffer<float> w, b;
};

struct DFusion {
  DAttention self_attn, token_to_image, image_to_token;
  DNorm norm1, norm2, norm3, norm4;
  DLinear lin1, lin2;
};

}  // namespace

struct DeviceImageState {
  PoolHold hold;                // first: outlives the buffers below
  DeviceBuffer<float> m_hre;    // [K, d]
  DeviceBuffer<uint8_t> masks;  // [K, H, W]
};

struct HeadCuda::Impl {
  PoolHold hold;  // first: outlives every buffer below
  std::shared_ptr<SafeTensors> st;
  HeadConfig c;
  // The head's own streams: `stream` for the main chain, `side` for work that does not depend on
  // it (the proposals' area weights overlap the projections and region attention). Both are
  // blocking streams, so they stay ordered with work on the legacy default stream (the mask
  // generator's): a pooled block freed here while kernels still use it is only handed to work that
  // runs after them. Calls are serialised (`mutex`) for the same reason between the two streams.
  cudaStream_t stream = nullptr, side = nullptr;
  cudaEvent_t side_done = nullptr;
  mutable std::mutex mutex;
  // Destroys the streams after every buffer below (members go in reverse order): their releases
  // record events on these streams, which must still exist.
  struct StreamsOwner {
    Impl* m;
    ~StreamsOwner() {
      if (m->side_done) cudaEventDestroy(m->side_done);
      if (m->side) cudaStreamDestroy(m->side);
      if (m->stream) cudaStreamDestroy(m->stream);
    }
  } streams_owner{this};
  DLinear input_proj, region_q, region_kv, text0, text2, iop0, iop1, embed0, embed1;
  std::vector<DAttention> hre;
  std::vector<DNorm> hre_norm;
  std::vector<DFusion> fusion;
  DAttention final_attn;
  DNorm final_norm;

  DLinear linear(const std::string& prefix, int64_t out, int64_t in) {
    const std::string wname = prefix + ".weight";
    const float* w =
        st->has(wname) && st->shape(wname).size() == 4 ? st->f32(wname, {out, in, 1, 1}) : st->f32(wname, {out, in});
    const float* b = st->f32_optional(prefix + ".bias", {out});
    DLinear l;
    l.out = out;
    l.in = in;
    l.w = to_device(w, out * in, stream);
    if (b) l.b = to_device(b, out, stream), l.has_bias = true;
    return l;
  }

  DAttention attention_weights(const std::string& prefix, int64_t heads, bool out_required) {
    // The same checks and messages as Head::load_attention.
    const int64_t d = c.dim;
    const std::string qname = prefix + ".q_proj.weight";
    const Dims& qs = st->shape(qname);
    if (qs.size() != 2 || qs[1] != d)
      throw Error(ErrorCode::ModelFile, st->label() + ": tensor '" + qname + "' has shape " + dims_to_string(qs) +
                                            ", expected [internal, " + std::to_string(d) + "]");
    const int64_t internal = qs[0];
    if (internal % heads)
      throw Error(ErrorCode::ModelFile, st->label() + ": " + prefix + " has width " + std::to_string(internal) +
                                            ", not divisible into " + std::to_string(heads) + " heads");
    DAttention a;
    a.heads = heads;
    a.q = linear(prefix + ".q_proj", internal, d);
    a.k = linear(prefix + ".k_proj", internal, d);
    a.v = linear(prefix + ".v_proj", internal, d);
    if (out_required || st->has(prefix + ".out_proj.weight")) {
      a.out = linear(prefix + ".out_proj", d, internal);
      a.has_out = true;
    } else if (internal != d) {
      throw Error(ErrorCode::ModelFile, st->label() + ": " + prefix + ".out_proj.weight is missing (needed: width " +
                                            std::to_string(internal) + " differs from " + std::to_string(d) + ")");
    }
    return a;
  }

  DNorm norm(const std::string& prefix) {
    return DNorm{to_device(st->f32(prefix + ".weight", {c.dim}), c.dim, stream),
                 to_device(st->f32(prefix + ".bias", {c.dim}), c.dim, stream)};
  }

  // out [m, d] = Attention(xq [m, d], xk [n, d], xv [n, d]).
  void attend(const DAttention& a, const float* xq, int64_t m, const float* xk, const float* xv, int64_t n,
              float* out) const {
    if (m == 0) return;
    const int64_t D = a.q.out, Dv = a.v.out;
    DeviceBuffer<float> q(m * D, stream), k(n * D, stream), v(n * Dv, stream), ctx(m * Dv, stream);
    a.q.run(xq, m, q.get(), false, stream);
    a.k.run(xk, n, k.get(), false, stream);
    a.v.run(xv, n, v.get(), false, stream);
    attention_core(q.get(), D, k.get(), D, v.get(), Dv, m, n, D, Dv, a.heads, a.has_out ? ctx.get() : out, stream);
    if (a.has_out) a.out.run(ctx.get(), m, out, false, stream);
  }
};

HeadCuda::HeadCuda(std::shared_ptr<SafeTensors> weights, HeadConfig config) : impl_(std::make_unique<Impl>()) {
  validate_head_config(config);
  if (!config.pool_pulled_back)
    throw Error(ErrorCode::InvalidArgument,
                "maskPooling 'direct' runs on the CPU only; the GPU uses the pulled-back form");
  Impl& m = *impl_;
  HRSEG_CUDA_CHECK(cudaStreamCreate(&m.stream));
  HRSEG_CUDA_CHECK(cudaStreamCreate(&m.side));
  HRSEG_CUDA_CHECK(cudaEventCreateWithFlags(&m.side_done, cudaEventDisableTiming));
  m.st = std::move(weights);
  m.c = config;
  const int64_t d = config.dim;
  m.input_proj = m.linear("hrp.input_proj", d, config.feature_dim);
  if (config.hrp) {
    m.region_q = m.linear("hrp.region_attn.q_proj", d, d);
    std::vector<float> kv(2 * d * d), kvb(2 * d, 0.0f);
    std::memcpy(kv.data(), m.st->f32("hrp.region_attn.k_proj.weight", {d, d}), sizeof(float) * d * d);
    std::memcpy(kv.data() + d * d, m.st->f32("hrp.region_attn.v_proj.weight", {d, d}), sizeof(float) * d * d);
    if (const float* kb = m.st->f32_optional("hrp.region_attn.k_proj.bias", {d})) std::copy(kb, kb + d, kvb.begin());
    if (const float* vb = m.st->f32_optional("hrp.region_attn.v_proj.bias", {d}))
      std::copy(vb, vb + d, kvb.begin() + d);
    m.region_kv.out = 2 * d;
    m.region_kv.in = d;
    m.region_kv.w = to_device(kv.data(), kv.size(), m.stream);
    m.region_kv.b = to_device(kvb.data(), kvb.size(), m.stream);
    m.region_kv.has_bias = true;
    HRSEG_CUDA_CHECK(cudaStreamSynchronize(m.stream));  // kv and kvb are about to go
  }
  for (int64_t l = 0; l < config.hre_layers; ++l) {
    const std::string p = "hre.layers." + std::to_string(l);
    m.hre.push_back(m.attention_weights(p + ".attn", config.hre_heads, false));
    m.hre_norm.push_back(m.norm(p + ".norm"));
  }
  m.text0 = m.linear("text_hidden_fcs.0.0", config.hidden_size, config.hidden_size);
  m.text2 = m.linear("text_hidden_fcs.0.2", d, config.hidden_size);
  for (int64_t b = 0; b < config.fusion_blocks; ++b) {
    const std::string p = "fusion.layers." + std::to_string(b);
    DFusion f;
    f.self_attn = m.attention_weights(p + ".self_attn", config.fusion_heads, true);
    f.norm1 = m.norm(p + ".norm1");
    f.token_to_image = m.attention_weights(p + ".cross_attn_token_to_image", config.fusion_heads, true);
    f.norm2 = m.norm(p + ".norm2");
    f.lin1 = m.linear(p + ".mlp.lin1", config.fusion_mlp_dim, d);
    f.lin2 = m.linear(p + ".mlp.lin2", d, config.fusion_mlp_dim);
    f.norm3 = m.norm(p + ".norm3");
    f.image_to_token = m.attention_weights(p + ".cross_attn_image_to_token", config.fusion_heads, true);
    f.norm4 = m.norm(p + ".norm4");
    m.fusion.push_back(std::move(f));
  }
  m.final_attn = m.attention_weights("fusion.final_attn_token_to_image", config.fusion_heads, true);
  m.final_norm = m.norm("fusion.norm_final_attn");
  m.iop0 = m.linear("iop_head.layers.0", config.iop_hidden, d);
  m.iop1 = m.linear("iop_head.layers.1", 1, config.iop_hidden);
  m.embed0 = m.linear("embed_head.layers.0", config.embed_hidden, d);
  m.embed1 = m.linear("embed_head.layers.1", d, config.embed_hidden);
  HRSEG_CUDA_CHECK(cudaStreamSynchronize(m.stream));
}

HeadCuda::~HeadCuda() = default;

const HeadConfig& HeadCuda::config() const { return impl_->c; }

DeviceImage HeadCuda::image_step(const float* fg, const float* fl, const uint8_t* masks, int64_t K, int64_t H,
                                 int64_t W) const {
  return image_step_impl(fg, fl, false, masks, K, H, W);
}

DeviceImage HeadCuda::image_step_from_tokens(const float* device_tokens, int64_t views, const uint8_t* masks, int64_t K,
                                             int64_t H, int64_t W) const {
  const HeadConfig& c = impl_->c;
  const int64_t want = c.hrp ? 1 + c.magnification * c.magnification : 1;
  if (views != want)
    throw Error(ErrorCode::InvalidTensor,
                "DINOv2 tokens: " + std::to_string(views) + " views, the head needs " + std::to_string(want));
  return image_step_impl(device_tokens, c.hrp ? device_tokens + c.global_grid * c.global_grid * c.feature_dim : nullptr,
                         true, masks, K, H, W);
}

// fg, fl: host features, or (on_device) the global tokens and the crops' tokens in device memory.
DeviceImage HeadCuda::image_step_impl(const float* fg, const float* fl, bool on_device, const uint8_t* masks, int64_t K,
                                      int64_t H, int64_t W) const {
  const Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mutex);
  const HeadConfig& c = m.c;
  const int64_t d = c.dim, ng = c.global_grid, N = c.magnification, nl = N * ng, P = c.pool_size;
  if (K < 0 || H <= 0 || W <= 0)
    throw Error(ErrorCode::InvalidArgument, "proposals: need K >= 0 masks of positive height and width");
  // Checked before anything is queued: the instruction step's fusion attends over the K proposals
  // in one block, and an image it cannot answer must be refused here, not halfway through later.
  int64_t max_keys = INT64_MAX;
  for (const DFusion& f : m.fusion)
    max_keys = std::min(max_keys, attention_max_keys(f.self_attn.q.out / f.self_attn.heads));
  if (K > max_keys)
    throw Error(ErrorCode::InvalidArgument,
                "proposals: " + std::to_string(K) + " masks, over the " + std::to_string(max_keys) +
                    " the GPU head attends over in one block (fewer proposals, or the CPU head)");
  cudaStream_t s = m.stream;
  auto state = std::make_shared<DeviceImageState>();
  // The side stream uploads the proposals and computes their pooling weights meanwhile; the
  // buffer is released on s only once s has waited for the side stream (below).
  DeviceBuffer<float> w(K * P * P, m.side);
  const DeviceResizeTables tables = upload_resize_tables(MaskResizer(c.mask_resize, H, W, P), m.side);
  state->masks = to_device(masks, K * H * W, m.side);
  resize_weights(state->masks.get(), K, H, W, P, tables.y.taps(), tables.x.taps(), w.get(), m.side);
  HRSEG_CUDA_CHECK(cudaEventRecord(m.side_done, m.side));
  DeviceBuffer<float> dfg;
  if (!on_device) dfg = to_device(fg, ng * ng * c.feature_dim, s);
  DeviceBuffer<float> xg(ng * ng * d, s), fr, fh(ng * ng * d, s);
  m.input_proj.run(on_device ? fg : dfg.get(), ng * ng, xg.get(), false, s);
  if (c.hrp) {
    DeviceBuffer<float> dfl =
        on_device ? DeviceBuffer<float>(nl * nl * c.feature_dim, s) : to_device(fl, nl * nl * c.feature_dim, s);
    if (on_device) stitch_tiles(fl, N, ng, c.feature_dim, dfl.get(), s);
    DeviceBuffer<float> xl(nl * nl * d, s), q(ng * ng * d, s), kv(nl * nl * 2 * d, s);
    fr = DeviceBuffer<float>(ng * ng * d, s);
    m.input_proj.run(dfl.get(), nl * nl, xl.get(), false, s);
    m.region_q.run(xg.get(), ng * ng, q.get(), false, s);
    m.region_kv.run(xl.get(), nl * nl, kv.get(), false, s);
    region_attention(q.get(), kv.get(), xg.get(), ng, N, d, c.gamma, fr.get(), fh.get(), s);
  } else {  // F_h = X_g (LLM-Seg)
    HRSEG_CUDA_CHECK(cudaMemcpyAsync(fh.get(), xg.get(), ng * ng * d * 4, cudaMemcpyDeviceToDevice, s));
  }
  DeviceBuffer<float> scratch(K * (2 * P * ng + ng * ng), s), mhrp(K * d, s);
  HRSEG_CUDA_CHECK(cudaStreamWaitEvent(s, m.side_done, 0));
  w.set_stream(s);
  mask_pool_pulled_back(w.get(), K, P, (c.pool_hybrid ? fh : fr).get(), ng, d, scratch.get(), mhrp.get(), s);
  state->m_hre = DeviceBuffer<float>(K * d, s);
  if (K > 0) HRSEG_CUDA_CHECK(cudaMemcpyAsync(state->m_hre.get(), mhrp.get(), K * d * 4, cudaMemcpyDeviceToDevice, s));
  DeviceBuffer<float> a(K * d, s);
  for (size_t l = 0; l < m.hre.size() && K > 0; ++l) {
    m.attend(m.hre[l], state->m_hre.get(), K, fh.get(), fh.get(), ng * ng, a.get());
    add_layer_norm(state->m_hre.get(), a.get(), K, d, m.hre_norm[l].w.get(), m.hre_norm[l].b.get(), s);
  }
  DeviceImage out;
  out.K = K, out.H = H, out.W = W;
  const int64_t region_rows = c.hrp ? ng * ng : 0;
  out.host.region = Tensor(DType::F32, {region_rows, d});
  out.host.hybrid = Tensor(DType::F32, {ng * ng, d});
  out.host.m_hrp = Tensor(DType::F32, {K, d});
  out.host.m_hre = Tensor(DType::F32, {K, d});
  if (c.hrp) to_host(fr, out.host.region.as<float>(), ng * ng * d, s);
  to_host(fh, out.host.hybrid.as<float>(), ng * ng * d, s);
  to_host(mhrp, out.host.m_hrp.as<float>(), K * d, s);
  to_host(state->m_hre, out.host.m_hre.as<float>(), K * d, s);
  HRSEG_CUDA_CHECK(cudaStreamSynchronize(s));
  // The image outlives this call (and maybe this head and its streams): nothing is queued on its
  // buffers now, and later users synchronise before they return.
  state->m_hre.set_stream(nullptr);
  state->masks.set_stream(nullptr);
  out.device = std::move(state);
  return out;
}

InstructionOutput HeadCuda::instruction_step(const DeviceImage& image, const float* h_seg, int64_t S,
                                             const SelectionOverride& sel) const {
  const Impl& m = *impl_;
  std::lock_guard<std::mutex> lock(m.mutex);
  const HeadConfig& c = m.c;
  const int64_t d = c.dim, K = image.K, H = image.H, W = image.W;
  if (S < 1) throw Error(ErrorCode::InvalidArgument, "hSeg: need at least one [SEG] embedding");
  cudaStream_t s = m.stream;
  const Strategy strategy = sel.set ? sel.strategy : c.strategy;
  const int64_t top_k = sel.set ? sel.top_k : c.top_k;
  const float tau = sel.set ? sel.tau : c.tau;
  const Fallback fallback = sel.set ? sel.fallback : c.fallback;
  InstructionOutput out;
  out.text = Tensor(DType::F32, {S, d});
  out.embeddings = Tensor(DType::F32, {S, K, d});
  out.similarity = Tensor(DType::F32, {S, K});
  out.iop = Tensor(DType::F32, {S, K});
  out.masks = Tensor(DType::U8, {S, H, W});
  auto dh = to_device(h_seg, S * c.hidden_size, s);
  DeviceBuffer<float> hidden(S * c.hidden_size, s), text(S * d, s);
  m.text0.run(dh.get(), S, hidden.get(), true, s);
  m.text2.run(hidden.get(), S, text.get(), false, s);
  to_host(text, out.text.as<float>(), S * d, s);
  DeviceBuffer<float> q(K * d, s), a(std::max<int64_t>(K, 1) * d, s), mlp_h(K * c.fusion_mlp_dim, s), mlp_o(K * d, s),
      token(d, s), iop_h(K * c.iop_hidden, s), iop_logit(K, s), iop(K, s), emb_h(K * c.embed_hidden, s), emb(K * d, s),
      sim(K, s);
  DeviceBuffer<uint8_t> mask(H * W, s);
  for (int64_t si = 0; si < S; ++si) {
    const float* t = text.get() + si * d;
    if (K == 0) {
      out.selections.push_back(Selection{});
      continue;
    }
    HRSEG_CUDA_CHECK(cudaMemcpyAsync(q.get(), image.device->m_hre.get(), K * d * 4, cudaMemcpyDeviceToDevice, s));
    HRSEG_CUDA_CHECK(cudaMemcpyAsync(token.get(), t, d * 4, cudaMemcpyDeviceToDevice, s));
    for (const DFusion& f : m.fusion) {
      m.attend(f.self_attn, q.get(), K, q.get(), q.get(), K, a.get());
      add_layer_norm(q.get(), a.get(), K, d, f.norm1.w.get(), f.norm1.b.get(), s);
      m.attend(f.token_to_image, q.get(), K, token.get(), token.get(), 1, a.get());
      add_layer_norm(q.get(), a.get(), K, d, f.norm2.w.get(), f.norm2.b.get(), s);
      f.lin1.run(q.get(), K, mlp_h.get(), true, s);
      f.lin2.run(mlp_h.get(), K, mlp_o.get(), false, s);
      add_layer_norm(q.get(), mlp_o.get(), K, d, f.norm3.w.get(), f.norm3.b.get(), s);
      m.attend(f.image_to_token, token.get(), 1, q.get(), q.get(), K, a.get());
      add_layer_norm(token.get(), a.get(), 1, d, f.norm4.w.get(), f.norm4.b.get(), s);
    }
    m.attend(m.final_attn, q.get(), K, token.get(), token.get(), 1, a.get());
    add_layer_norm(q.get(), a.get(), K, d, m.final_norm.w.get(), m.final_norm.b.get(), s);
    m.iop0.run(q.get(), K, iop_h.get(), true, s);
    m.iop1.run(iop_h.get(), K, iop_logit.get(), false, s);
    sigmoid(iop_logit.get(), K, iop.get(), s);
    m.embed0.run(q.get(), K, emb_h.get(), true, s);
    m.embed1.run(emb_h.get(), K, emb.get(), false, s);
    cosine_rows(t, 1, emb.get(), K, d, sim.get(), s);
    float* hsim = out.similarity.as<float>() + si * K;
    float* hiop = out.iop.as<float>() + si * K;
    to_host(sim, hsim, K, s);
    to_host(iop, hiop, K, s);
    to_host(emb, out.embeddings.as<float>() + si * K * d, K * d, s);
    HRSEG_CUDA_CHECK(cudaStreamSynchronize(s));
    out.selections.push_back(select_proposals(hsim, hiop, K, strategy, top_k, tau, fallback));
    const auto& chosen = out.selections.back().chosen;
    std::vector<int32_t> ids(chosen.begin(), chosen.end());
    auto dids = to_device(ids.data(), ids.size(), s);
    union_masks(image.device->masks.get(), H * W, dids.get(), static_cast<int64_t>(ids.size()), mask.get(), s);
    to_host(mask, out.masks.as<uint8_t>() + si * H * W, H * W, s);
    HRSEG_CUDA_CHECK(cudaStreamSynchronize(s));
  }
  return out;
}

}  // namespace hrseg::cuda
