#include "regionAttentionPlugin.h"

#include <cmath>
#include <exception>
#include <stdexcept>

#include "../common/pluginConstants.h"
#include "../common/pluginLogger.h"
#include "../common/pluginTypes.h"
#include "hrseg_cuda/cast.h"
#include "hrseg_cuda/head_kernels.h"

namespace hrseg::trt::plugin {

using namespace nvinfer1;

namespace {
constexpr int32_t kMaxMagnification = 8;  // the kernel's window limit (N² ≤ 64)
constexpr int kInQ = 0, kInKV = 1, kInXG = 2;

int64_t exact_sqrt(int64_t n) {
  const auto r = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(n))));
  return r * r == n ? r : -1;
}
}  // namespace

RegionAttentionParams parse_region_attention(const PluginFieldCollection* fc) {
  FieldReader f(kRegionAttentionName, fc);
  RegionAttentionParams p;
  const int64_t N = f.integer("magnification", p.magnification);
  if (N < 1 || N > kMaxMagnification)
    throw std::invalid_argument(std::string(kRegionAttentionName) + ": field 'magnification' must be in [1, 8], got " +
                                std::to_string(N));
  const double gamma = f.real("gamma", p.gamma);
  if (!(gamma >= 0.0 && gamma <= 1.0))
    throw std::invalid_argument(std::string(kRegionAttentionName) + ": field 'gamma' must be in [0, 1], got " +
                                std::to_string(gamma));
  p.magnification = static_cast<int32_t>(N);
  p.gamma = static_cast<float>(gamma);
  return p;
}

std::string check_region_attention_shapes(const RegionAttentionParams& p, int64_t G, int64_t d, int64_t L, int64_t dkv,
                                          int64_t G2, int64_t d2) {
  if (G2 != G || d2 != d)
    return "xg must have q's shape [" + std::to_string(G) + ", " + std::to_string(d) + "], got [" + std::to_string(G2) +
           ", " + std::to_string(d2) + "]";
  if (dkv != 2 * d) return "kv must have 2·d = " + std::to_string(2 * d) + " columns, got " + std::to_string(dkv);
  if (exact_sqrt(G) < 0) return "q's rows (" + std::to_string(G) + ") must be a square grid n_g²";
  const int64_t N = p.magnification;
  if (L != N * N * G)
    return "kv must have N²·G = " + std::to_string(N * N * G) + " rows for magnification " + std::to_string(N) +
           ", got " + std::to_string(L);
  return "";
}

RegionAttentionPlugin::RegionAttentionPlugin(RegionAttentionParams params) : params_(params) {}

IPluginCapability* RegionAttentionPlugin::getCapabilityInterface(PluginCapabilityType type) noexcept {
  switch (type) {
    case PluginCapabilityType::kCORE:
      return static_cast<IPluginV3OneCore*>(this);
    case PluginCapabilityType::kBUILD:
      return static_cast<IPluginV3OneBuild*>(this);
    case PluginCapabilityType::kRUNTIME:
      return static_cast<IPluginV3OneRuntime*>(this);
  }
  return nullptr;
}

IPluginV3* RegionAttentionPlugin::clone() noexcept {
  try {
    return new RegionAttentionPlugin(params_);
  } catch (const std::exception& e) {
    report_error(std::string(kRegionAttentionName) + ": clone failed: " + e.what());
    return nullptr;
  }
}

const char* RegionAttentionPlugin::getPluginName() const noexcept { return kRegionAttentionName; }
const char* RegionAttentionPlugin::getPluginVersion() const noexcept { return kVersion; }
const char* RegionAttentionPlugin::getPluginNamespace() const noexcept { return kNamespace; }

int32_t RegionAttentionPlugin::configurePlugin(const DynamicPluginTensorDesc* in, int32_t nbInputs,
                                               const DynamicPluginTensorDesc* out, int32_t nbOutputs) noexcept {
  if (nbInputs != 3 || nbOutputs != 2 || !in || !out) {
    report_error(std::string(kRegionAttentionName) + ": expects 3 inputs (q, kv, xg) and 2 outputs (fr, fh)");
    return -1;
  }
  for (int i = 0; i < 3; ++i)
    if (in[i].desc.dims.nbDims != 2) {
      report_error(std::string(kRegionAttentionName) + ": input " + std::to_string(i) + " must be 2-D");
      return -1;
    }
  return 0;
}

int32_t RegionAttentionPlugin::getOutputDataTypes(DataType* outputTypes, int32_t nbOutputs, const DataType* inputTypes,
                                                  int32_t nbInputs) const noexcept {
  if (nbOutputs != 2 || nbInputs != 3) return -1;
  outputTypes[0] = outputTypes[1] = inputTypes[kInQ];
  return 0;
}

int32_t RegionAttentionPlugin::getOutputShapes(const DimsExprs* inputs, int32_t nbInputs, const DimsExprs*, int32_t,
                                               DimsExprs* outputs, int32_t nbOutputs, IExprBuilder&) noexcept {
  if (nbInputs != 3 || nbOutputs != 2 || inputs[kInQ].nbDims != 2) {
    report_error(std::string(kRegionAttentionName) + ": q must be 2-D [G, d]");
    return -1;
  }
  outputs[0] = inputs[kInQ];
  outputs[1] = inputs[kInQ];
  return 0;
}

bool RegionAttentionPlugin::supportsFormatCombination(int32_t pos, const DynamicPluginTensorDesc* inOut,
                                                      int32_t nbInputs, int32_t nbOutputs) noexcept {
  if (nbInputs != 3 || nbOutputs != 2 || pos < 0 || pos >= 5) return false;
  const PluginTensorDesc& d = inOut[pos].desc;
  if (d.format != TensorFormat::kLINEAR || !is_feature_type(d.type)) return false;
  // Every tensor shares q's type: the fp32 kernel is wrapped by one widen/narrow pair.
  return pos == 0 || d.type == inOut[0].desc.type;
}

size_t RegionAttentionPlugin::getWorkspaceSize(const DynamicPluginTensorDesc* inputs, int32_t,
                                               const DynamicPluginTensorDesc*, int32_t) const noexcept {
  if (inputs[kInQ].desc.type == DataType::kFLOAT) return 0;
  const int64_t G = inputs[kInQ].max.d[0], d = inputs[kInQ].max.d[1], L = inputs[kInKV].max.d[0];
  // fp32 copies of q, xg, fr, fh ([G, d] each) and kv ([L, 2d]).
  return 4 * align_up(sizeof(float) * G * d) + align_up(sizeof(float) * L * 2 * d);
}

int32_t RegionAttentionPlugin::onShapeChange(const PluginTensorDesc* in, int32_t nbInputs, const PluginTensorDesc*,
                                             int32_t nbOutputs) noexcept {
  if (nbInputs != 3 || nbOutputs != 2) return -1;
  try {
    const std::string why =
        check_region_attention_shapes(params_, in[kInQ].dims.d[0], in[kInQ].dims.d[1], in[kInKV].dims.d[0],
                                      in[kInKV].dims.d[1], in[kInXG].dims.d[0], in[kInXG].dims.d[1]);
    if (!why.empty()) {
      report_error(std::string(kRegionAttentionName) + ": " + why);
      return -1;
    }
    return 0;
  } catch (const std::exception& e) {
    report_error(std::string(kRegionAttentionName) + ": " + e.what());
    return -1;
  }
}

int32_t RegionAttentionPlugin::enqueue(const PluginTensorDesc* inputDesc, const PluginTensorDesc*,
                                       const void* const* inputs, void* const* outputs, void* workspace,
                                       cudaStream_t stream) noexcept {
  try {
    const int64_t G = inputDesc[kInQ].dims.d[0], d = inputDesc[kInQ].dims.d[1], L = inputDesc[kInKV].dims.d[0];
    const int64_t ng = std::llround(std::sqrt(static_cast<double>(G)));
    const DataType type = inputDesc[kInQ].type;
    if (type == DataType::kFLOAT) {
      cuda::region_attention(static_cast<const float*>(inputs[kInQ]), static_cast<const float*>(inputs[kInKV]),
                             static_cast<const float*>(inputs[kInXG]), ng, params_.magnification, d, params_.gamma,
                             static_cast<float*>(outputs[0]), static_cast<float*>(outputs[1]), stream);
      return 0;
    }
    const cuda::ElementType et = element_type(type);
    auto* base = static_cast<char*>(workspace);
    auto take = [&](size_t count) {
      float* p = reinterpret_cast<float*>(base);
      base += align_up(sizeof(float) * count);
      return p;
    };
    float *q = take(G * d), *xg = take(G * d), *fr = take(G * d), *fh = take(G * d), *kv = take(L * 2 * d);
    cuda::widen_to_float(inputs[kInQ], et, G * d, q, stream);
    cuda::widen_to_float(inputs[kInXG], et, G * d, xg, stream);
    cuda::widen_to_float(inputs[kInKV], et, L * 2 * d, kv, stream);
    cuda::region_attention(q, kv, xg, ng, params_.magnification, d, params_.gamma, fr, fh, stream);
    cuda::narrow_from_float(fr, G * d, et, outputs[0], stream);
    cuda::narrow_from_float(fh, G * d, et, outputs[1], stream);
    return 0;
  } catch (const std::exception& e) {
    report_error(std::string(kRegionAttentionName) + ": enqueue failed: " + e.what());
    return -1;
  }
}

IPluginV3* RegionAttentionPlugin::attachToContext(IPluginResourceContext*) noexcept { return clone(); }

const PluginFieldCollection* RegionAttentionPlugin::getFieldsToSerialize() noexcept {
  try {
    serialized_.clear();
    serialized_.add_int32("magnification", params_.magnification);
    serialized_.add_float32("gamma", params_.gamma);
    return serialized_.collection();
  } catch (const std::exception& e) {
    report_error(std::string(kRegionAttentionName) + ": " + e.what());
    return nullptr;
  }
}

RegionAttentionCreator::RegionAttentionCreator() {
  names_.add_name("magnification", PluginFieldType::kINT32, 1);
  names_.add_name("gamma", PluginFieldType::kFLOAT32, 1);
}

IPluginV3* RegionAttentionCreator::createPlugin(const char*, const PluginFieldCollection* fc, TensorRTPhase) noexcept {
  try {
    return new RegionAttentionPlugin(parse_region_attention(fc));
  } catch (const std::exception& e) {
    report_error(e.what());
    return nullptr;
  }
}

const PluginFieldCollection* RegionAttentionCreator::getFieldNames() noexcept { return names_.collection(); }
const char* RegionAttentionCreator::getPluginName() const noexcept { return kRegionAttentionName; }
const char* RegionAttentionCreator::getPluginVersion() const noexcept { return kVersion; }
const char* RegionAttentionCreator::getPluginNamespace() const noexcept { return kNamespace; }

}  // namespace hrseg::trt::plugin
