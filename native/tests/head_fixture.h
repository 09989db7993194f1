// Builds a random head.safetensors in memory for native tests and benchmarks (names as README.md).
#pragma once
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "hrseg/head.h"
#include "random.h"

namespace check {

struct NamedTensor {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

inline std::vector<uint8_t> encode_safetensors(const std::map<std::string, NamedTensor>& tensors) {
  std::string header = "{";
  size_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (header.size() > 1) header += ",";
    header += "\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i) header += (i ? "," : "") + std::to_string(t.shape[i]);
    header += "],\"data_offsets\":[" + std::to_string(offset) + "," + std::to_string(offset + t.data.size() * 4) + "]}";
    offset += t.data.size() * 4;
  }
  header += "}";
  while ((8 + header.size()) % 8) header += " ";
  std::vector<uint8_t> out(8 + header.size() + offset);
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(n >> (8 * i));
  std::memcpy(out.data() + 8, header.data(), header.size());
  size_t pos = 8 + header.size();
  for (const auto& [name, t] : tensors) {
    std::memcpy(out.data() + pos, t.data.data(), t.data.size() * 4);
    pos += t.data.size() * 4;
  }
  return out;
}

inline std::map<std::string, NamedTensor> random_head_weights(const hrseg::HeadConfig& c) {
  std::map<std::string, NamedTensor> w;
  auto lin = [&](const std::string& name, int64_t out, int64_t in) {
    w[name + ".weight"] = {
        {out, in}, uniform(static_cast<size_t>(out * in), -1.5f / std::sqrt(float(in)), 1.5f / std::sqrt(float(in)))};
    w[name + ".bias"] = {{out}, uniform(static_cast<size_t>(out), -0.3f, 0.3f)};
  };
  auto norm = [&](const std::string& name) {
    w[name + ".weight"] = {{c.dim}, uniform(static_cast<size_t>(c.dim), 0.5f, 1.5f)};
    w[name + ".bias"] = {{c.dim}, uniform(static_cast<size_t>(c.dim), -0.2f, 0.2f)};
  };
  auto attn = [&](const std::string& name, bool out) {
    for (const char* p : {".q_proj", ".k_proj", ".v_proj"}) lin(name + p, c.dim, c.dim);
    if (out) lin(name + ".out_proj", c.dim, c.dim);
  };
  lin("hrp.input_proj", c.dim, c.feature_dim);
  if (c.hrp)  // an LLM-Seg head (hrp off) has no region-attention weights
    for (const char* p : {"q", "k", "v"}) lin(std::string("hrp.region_attn.") + p + "_proj", c.dim, c.dim);
  for (int64_t l = 0; l < c.hre_layers; ++l) {
    attn("hre.layers." + std::to_string(l) + ".attn", c.hre_heads > 1);
    norm("hre.layers." + std::to_string(l) + ".norm");
  }
  lin("text_hidden_fcs.0.0", c.hidden_size, c.hidden_size);
  lin("text_hidden_fcs.0.2", c.dim, c.hidden_size);
  for (int64_t b = 0; b < c.fusion_blocks; ++b) {
    const std::string p = "fusion.layers." + std::to_string(b);
    attn(p + ".self_attn", true);
    norm(p + ".norm1");
    attn(p + ".cross_attn_token_to_image", true);
    norm(p + ".norm2");
    lin(p + ".mlp.lin1", c.fusion_mlp_dim, c.dim);
    lin(p + ".mlp.lin2", c.dim, c.fusion_mlp_dim);
    norm(p + ".norm3");
    attn(p + ".cross_attn_image_to_token", true);
    norm(p + ".norm4");
  }
  attn("fusion.final_attn_token_to_image", true);
  norm("fusion.norm_final_attn");
  lin("iop_head.layers.0", c.iop_hidden, c.dim);
  lin("iop_head.layers.1", 1, c.iop_hidden);
  lin("embed_head.layers.0", c.embed_hidden, c.dim);
  lin("embed_head.layers.1", c.dim, c.embed_hidden);
  return w;
}

// K rectangles of random size and place, [K, H, W].
inline std::vector<uint8_t> random_masks(int64_t K, int64_t H, int64_t W) {
  std::vector<uint8_t> m(static_cast<size_t>(K * H * W), 0);
  for (int64_t k = 0; k < K; ++k) {
    int64_t y0 = randint(0, H - 1), x0 = randint(0, W - 1);
    int64_t y1 = randint(y0, H - 1), x1 = randint(x0, W - 1);
    for (int64_t y = y0; y <= y1; ++y)
      for (int64_t x = x0; x <= x1; ++x) m[k * H * W + y * W + x] = 1;
  }
  return m;
}

}  // namespace check
