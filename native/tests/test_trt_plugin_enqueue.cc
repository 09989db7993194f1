// The TensorRT plugins' enqueue called directly, as TensorRT calls it, with device pointers and a
// workspace of the size the plugin asked for: fp32, fp16 and bf16 I/O, K = 0, against a float64
// reference of the operation (region attention with the γ-mix; mask pooling as native/core).
// Runs on a real GPU (skips without one) and on the simulated GPU (native/cudasim).
#include <algorithm>
#include <cmath>
#include <tuple>
#include <cstring>
#include <vector>

#include "check.h"
#include "cuda_helpers.h"
#include "half_reference.h"
#include "hrseg/head_ops.h"
#include "maskPoolingPlugin/maskPoolingPlugin.h"
#include "random.h"
#include "regionAttentionPlugin/regionAttentionPlugin.h"

using namespace nvinfer1;
using namespace hrseg::trt::plugin;

namespace {

PluginTensorDesc tdesc(DataType t, std::initializer_list<int64_t> dims) {
  PluginTensorDesc d{};
  d.type = t;
  d.format = TensorFormat::kLINEAR;
  d.dims.nbDims = static_cast<int32_t>(dims.size());
  int i = 0;
  for (int64_t v : dims) d.dims.d[i++] = v;
  return d;
}
DynamicPluginTensorDesc ddesc(const PluginTensorDesc& t) {
  DynamicPluginTensorDesc d{};
  d.desc = t;
  d.min = d.opt = d.max = t.dims;
  return d;
}

// Host floats as the device holds them in `type` (16-bit types rounded to nearest even).
std::vector<uint8_t> encode(const std::vector<float>& x, DataType type) {
  if (type == DataType::kFLOAT)
    return std::vector<uint8_t>(reinterpret_cast<const uint8_t*>(x.data()),
                                reinterpret_cast<const uint8_t*>(x.data()) + 4 * x.size());
  const auto f = type == DataType::kHALF ? check::kHalf : check::kBFloat16;
  std::vector<uint8_t> out(2 * x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const uint16_t b = check::to_bits16(x[i], f);
    std::memcpy(&out[2 * i], &b, 2);
  }
  return out;
}
std::vector<double> decode(const std::vector<uint8_t>& bytes, DataType type) {
  std::vector<double> out;
  if (type == DataType::kFLOAT) {
    for (size_t i = 0; i < bytes.size(); i += 4) {
      float v;
      std::memcpy(&v, &bytes[i], 4);
      out.push_back(v);
    }
    return out;
  }
  const auto f = type == DataType::kHALF ? check::kHalf : check::kBFloat16;
  for (size_t i = 0; i < bytes.size(); i += 2) {
    uint16_t b;
    std::memcpy(&b, &bytes[i], 2);
    out.push_back(check::decode16(b, f));
  }
  return out;
}
// The values a 16-bit input really holds (what the reference must start from).
std::vector<double> as_stored(const std::vector<float>& x, DataType type) { return decode(encode(x, type), type); }

double rel_err(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) return INFINITY;
  double err = 0, scale = 1e-30;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    scale = std::max(scale, std::fabs(b[i]));
    err = std::max(err, std::fabs(a[i] - b[i]));
  }
  return err / scale;
}

double tolerance(DataType t) { return t == DataType::kFLOAT ? 1e-5 : t == DataType::kHALF ? 2e-3 : 1.6e-2; }
const char* name(DataType t) { return t == DataType::kFLOAT ? "fp32" : t == DataType::kHALF ? "fp16" : "bf16"; }

}  // namespace

TEST("RegionAttention's enqueue equals a float64 region attention with the γ-mix (fp32, fp16, bf16)") {
  check::require_gpu();
  for (auto [ng, N, d] : {std::tuple<int64_t, int64_t, int64_t>{3, 2, 16}, {5, 3, 40}}) {
    const int64_t G = ng * ng, nl = N * ng, L = nl * nl;
    const float gamma = 0.7f;
    RegionAttentionPlugin plugin(RegionAttentionParams{static_cast<int32_t>(N), gamma});
    auto q = check::uniform(G * d), kv = check::uniform(L * 2 * d), xg = check::uniform(G * d);
    for (DataType type : {DataType::kFLOAT, DataType::kHALF, DataType::kBF16}) {
      const auto qs = as_stored(q, type), kvs = as_stored(kv, type), xgs = as_stored(xg, type);
      std::vector<double> fr(G * d), fh(G * d);
      for (int64_t c = 0; c < G; ++c) {
        const int64_t i = c / ng, j = c % ng;
        std::vector<double> p(N * N);
        double mx = -INFINITY, z = 0;
        auto row = [&](int64_t w) { return ((N * i + w / N) * nl + (N * j + w % N)) * 2 * d; };
        for (int64_t w = 0; w < N * N; ++w) {
          double s = 0;
          for (int64_t e = 0; e < d; ++e) s += qs[c * d + e] * kvs[row(w) + e];
          mx = std::max(mx, p[w] = s / std::sqrt(double(d)));
        }
        for (auto& v : p) z += (v = std::exp(v - mx));
        for (int64_t e = 0; e < d; ++e) {
          double acc = 0;
          for (int64_t w = 0; w < N * N; ++w) acc += p[w] / z * kvs[row(w) + d + e];
          fr[c * d + e] = acc;
          fh[c * d + e] = gamma * xgs[c * d + e] + (1 - gamma) * acc;
        }
      }
      const PluginTensorDesc in[3] = {tdesc(type, {G, d}), tdesc(type, {L, 2 * d}), tdesc(type, {G, d})};
      const PluginTensorDesc out[2] = {tdesc(type, {G, d}), tdesc(type, {G, d})};
      const DynamicPluginTensorDesc din[3] = {ddesc(in[0]), ddesc(in[1]), ddesc(in[2])},
                                    dout[2] = {ddesc(out[0]), ddesc(out[1])};
      CHECK_EQ(plugin.onShapeChange(in, 3, out, 2), 0);
      const size_t ws = plugin.getWorkspaceSize(din, 3, dout, 2);
      const size_t esz = type == DataType::kFLOAT ? 4 : 2;
      auto dq = check::upload(encode(q, type)), dkv = check::upload(encode(kv, type)),
           dxg = check::upload(encode(xg, type));
      auto dfr = check::poisoned<uint8_t>(G * d * esz), dfh = check::poisoned<uint8_t>(G * d * esz);
      hrseg::cuda::DeviceBuffer<uint8_t> workspace(ws);
      const void* inputs[3] = {dq.get(), dkv.get(), dxg.get()};
      void* outputs[2] = {dfr.get(), dfh.get()};
      CHECK_EQ(plugin.enqueue(in, out, inputs, outputs, workspace.get(), nullptr), 0);
      const double e1 = rel_err(decode(check::download(dfr), type), fr),
                   e2 = rel_err(decode(check::download(dfh), type), fh);
      CHECK(e1 < tolerance(type) && e2 < tolerance(type));
      if (!(e1 < tolerance(type) && e2 < tolerance(type)))
        std::fprintf(stderr, "  %s ng %lld: %g %g\n", name(type), (long long)ng, e1, e2);
    }
  }
}

TEST(
    "MaskPooling's enqueue equals native/core's mask pooling (fp32, fp16, bf16 features; masks as floats); K = 0 "
    "writes nothing") {
  check::require_gpu();
  for (auto mode : {hrseg::MaskResize::BilinearAntialias, hrseg::MaskResize::Area})
    for (auto [K, H, W, ng, d, P] :
         {std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>{3, 20, 27, 4, 16, 24},
          {0, 9, 13, 3, 8, 16},
          {2, 40, 17, 5, 12, 32}}) {
      MaskPoolingPlugin plugin(MaskPoolingParams{static_cast<int32_t>(P), mode});
      const int64_t G = ng * ng;
      std::vector<uint8_t> masks(K * H * W);
      for (auto& m : masks) m = check::randint(0, 3) == 0;
      std::vector<float> mf(masks.begin(), masks.end());
      auto feats = check::uniform(G * d);
      for (DataType type : {DataType::kFLOAT, DataType::kHALF, DataType::kBF16}) {
        const auto fs = as_stored(feats, type);
        std::vector<float> f32(fs.begin(), fs.end()), ref32(K * d);
        hrseg::mask_pool(masks.data(), K, H, W, f32.data(), ng, d, P, mode, true, ref32.data());
        const std::vector<double> ref(ref32.begin(), ref32.end());
        const PluginTensorDesc in[2] = {tdesc(type, {K, H, W}), tdesc(type, {G, d})};
        const PluginTensorDesc out[1] = {tdesc(type, {K, d})};
        const DynamicPluginTensorDesc din[2] = {ddesc(in[0]), ddesc(in[1])}, dout[1] = {ddesc(out[0])};
        CHECK_EQ(plugin.onShapeChange(in, 2, out, 1), 0);
        const size_t ws = plugin.getWorkspaceSize(din, 2, dout, 1);
        const size_t esz = type == DataType::kFLOAT ? 4 : 2;
        auto dm = check::upload(encode(mf, type)), df = check::upload(encode(feats, type));
        auto dout_buf = check::poisoned<uint8_t>(std::max<int64_t>(K * d, 1) * esz);
        hrseg::cuda::DeviceBuffer<uint8_t> workspace(ws);
        const void* inputs[2] = {dm.get(), df.get()};
        void* outputs[1] = {dout_buf.get()};
        CHECK_EQ(plugin.enqueue(in, out, inputs, outputs, workspace.get(), nullptr), 0);
        auto got = check::download(dout_buf);
        if (K == 0) {
          CHECK(std::all_of(got.begin(), got.end(), [](uint8_t b) { return b == 0xFF; }));  // untouched
          continue;
        }
        const double e = rel_err(decode(got, type), ref);
        CHECK(e < tolerance(type));
        if (!(e < tolerance(type))) std::fprintf(stderr, "  %s K %lld: %g\n", name(type), (long long)K, e);
      }
    }
}

TEST_MAIN()
