#include "maskPoolingPlugin.h"

#include <cuda_runtime_api.h>

#include <algorithm>
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
constexpr int kInMasks = 0, kInFeatures = 1;
constexpr int64_t kMaxPoolSize = 4096;

int64_t exact_sqrt(int64_t n) {
  const auto r = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(n))));
  return r * r == n ? r : -1;
}

std::string error_prefix() { return std::string(kMaskPoolingName) + ": "; }
}  // namespace

const char* mask_resize_name(MaskResize r) { return r == MaskResize::Area ? "area" : "bilinear-antialias"; }

MaskPoolingParams parse_mask_pooling(const PluginFieldCollection* fc) {
  FieldReader f(kMaskPoolingName, fc);
  MaskPoolingParams p;
  const int64_t P = f.integer("pool_size", p.pool_size);
  if (P < 1 || P > kMaxPoolSize)
    throw std::invalid_argument(error_prefix() + "field 'pool_size' must be in [1, 4096], got " + std::to_string(P));
  const std::string mode = f.text("mask_resize", mask_resize_name(p.mask_resize));
  if (mode == "bilinear-antialias")
    p.mask_resize = MaskResize::BilinearAntialias;
  else if (mode == "area")
    p.mask_resize = MaskResize::Area;
  else
    throw std::invalid_argument(error_prefix() +
                                "field 'mask_resize' must be \"bilinear-antialias\" or \"area\", got \"" + mode + "\"");
  p.pool_size = static_cast<int32_t>(P);
  return p;
}

std::string check_mask_pooling_shapes(int64_t K, int64_t H, int64_t W, int64_t G, int64_t d) {
  if (K < 0 || H < 1 || W < 1)
    return "masks must be [K, H, W] with H, W ≥ 1, got [" + std::to_string(K) + ", " + std::to_string(H) + ", " +
           std::to_string(W) + "]";
  if (exact_sqrt(G) < 1) return "features' rows (" + std::to_string(G) + ") must be a square grid n_g²";
  if (d < 1) return "features must have at least one column";
  return "";
}

namespace {

size_t axis_bytes(size_t out, size_t weights) {
  return 3 * align_up(sizeof(int64_t) * out) + align_up(sizeof(double) * std::max<size_t>(weights, 1));
}

// Copies one axis's tables into the workspace (pageable source: the copy is staged before the
// call returns, so the host vectors may change afterwards) and returns the device view.
cuda::ResizeTaps stage_axis(const ResizeAxis& a, char*& base, cudaStream_t stream) {
  auto put = [&](const void* src, size_t bytes) {
    char* dst = base;
    base += align_up(std::max<size_t>(bytes, 1));
    if (bytes) {
      const cudaError_t e = cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream);
      if (e != cudaSuccess)
        throw std::runtime_error(std::string("copying the resize tables: ") + cudaGetErrorString(e));
    }
    return dst;
  };
  const size_t out = a.first.size();
  cuda::ResizeTaps t{};
  t.first = reinterpret_cast<const int64_t*>(put(a.first.data(), sizeof(int64_t) * out));
  t.count = reinterpret_cast<const int64_t*>(put(a.count.data(), sizeof(int64_t) * out));
  t.offset = reinterpret_cast<const int64_t*>(put(a.offset.data(), sizeof(int64_t) * out));
  t.weight = reinterpret_cast<const double*>(put(a.weight.data(), sizeof(double) * a.weight.size()));
  return t;
}

}  // namespace

size_t resize_tables_bytes(const MaskResizer& r) {
  return axis_bytes(r.y.first.size(), r.y.weight.size()) + axis_bytes(r.x.first.size(), r.x.weight.size());
}

size_t resize_tables_bound(int64_t H, int64_t W, int64_t P) {
  const auto L = static_cast<size_t>(std::max<int64_t>(std::max(H, W), 1));
  return 2 * axis_bytes(static_cast<size_t>(P), 2 * L + 4 * static_cast<size_t>(P));
}

size_t mask_pooling_workspace(const MaskPoolingParams& p, int64_t K, int64_t H, int64_t W, int64_t G, int64_t d,
                              bool features_f32) {
  // floor(√G): a profile's largest G need not be a square even though every G it runs is.
  const int64_t P = p.pool_size,
                ng = static_cast<int64_t>(std::floor(std::sqrt(static_cast<double>(std::max<int64_t>(G, 0)))));
  size_t bytes = align_up(static_cast<size_t>(K * H * W))                // masks thresholded to bytes
                 + align_up(sizeof(float) * K * P * P)                   // w
                 + align_up(sizeof(float) * K * (2 * P * ng + ng * ng))  // pull-back scratch (doubles inside)
                 + resize_tables_bound(H, W, P);
  if (!features_f32) bytes += align_up(sizeof(float) * G * d) + align_up(sizeof(float) * K * d);
  return bytes;
}

MaskPoolingPlugin::MaskPoolingPlugin(MaskPoolingParams params) : params_(params) {}
MaskPoolingPlugin::~MaskPoolingPlugin() = default;

IPluginCapability* MaskPoolingPlugin::getCapabilityInterface(PluginCapabilityType type) noexcept {
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

IPluginV3* MaskPoolingPlugin::clone() noexcept {
  try {
    auto* copy = new MaskPoolingPlugin(params_);
    copy->tables_ = tables_;  // immutable once built: shared, not copied
    copy->tables_h_ = tables_h_, copy->tables_w_ = tables_w_;
    return copy;
  } catch (const std::exception& e) {
    report_error(error_prefix() + "clone failed: " + e.what());
    return nullptr;
  }
}

const char* MaskPoolingPlugin::getPluginName() const noexcept { return kMaskPoolingName; }
const char* MaskPoolingPlugin::getPluginVersion() const noexcept { return kVersion; }
const char* MaskPoolingPlugin::getPluginNamespace() const noexcept { return kNamespace; }

int32_t MaskPoolingPlugin::configurePlugin(const DynamicPluginTensorDesc* in, int32_t nbInputs,
                                           const DynamicPluginTensorDesc* out, int32_t nbOutputs) noexcept {
  if (nbInputs != 2 || nbOutputs != 1 || !in || !out) {
    report_error(error_prefix() + "expects 2 inputs (masks, features) and 1 output");
    return -1;
  }
  if (in[kInMasks].desc.dims.nbDims != 3 || in[kInFeatures].desc.dims.nbDims != 2) {
    report_error(error_prefix() + "masks must be 3-D [K, H, W] and features 2-D [G, d]");
    return -1;
  }
  return 0;
}

int32_t MaskPoolingPlugin::getOutputDataTypes(DataType* outputTypes, int32_t nbOutputs, const DataType* inputTypes,
                                              int32_t nbInputs) const noexcept {
  if (nbOutputs != 1 || nbInputs != 2) return -1;
  outputTypes[0] = inputTypes[kInFeatures];
  return 0;
}

int32_t MaskPoolingPlugin::getOutputShapes(const DimsExprs* inputs, int32_t nbInputs, const DimsExprs*, int32_t,
                                           DimsExprs* outputs, int32_t nbOutputs, IExprBuilder&) noexcept {
  if (nbInputs != 2 || nbOutputs != 1 || inputs[kInMasks].nbDims != 3 || inputs[kInFeatures].nbDims != 2) {
    report_error(error_prefix() + "masks must be 3-D [K, H, W] and features 2-D [G, d]");
    return -1;
  }
  outputs[0].nbDims = 2;
  outputs[0].d[0] = inputs[kInMasks].d[0];
  outputs[0].d[1] = inputs[kInFeatures].d[1];
  return 0;
}

bool MaskPoolingPlugin::supportsFormatCombination(int32_t pos, const DynamicPluginTensorDesc* inOut, int32_t nbInputs,
                                                  int32_t nbOutputs) noexcept {
  if (nbInputs != 2 || nbOutputs != 1 || pos < 0 || pos >= 3) return false;
  const PluginTensorDesc& d = inOut[pos].desc;
  if (d.format != TensorFormat::kLINEAR) return false;
  // Masks in any float type of their own (the graph casts uint8 to fp16): never kUINT8 or kBOOL.
  if (pos == kInMasks) return is_feature_type(d.type);
  if (pos == kInFeatures) return is_feature_type(d.type);
  return d.type == inOut[kInFeatures].desc.type;
}

size_t MaskPoolingPlugin::getWorkspaceSize(const DynamicPluginTensorDesc* inputs, int32_t,
                                           const DynamicPluginTensorDesc*, int32_t) const noexcept {
  const Dims& m = inputs[kInMasks].max;
  const Dims& f = inputs[kInFeatures].max;
  return mask_pooling_workspace(params_, m.d[0], m.d[1], m.d[2], f.d[0], f.d[1],
                                inputs[kInFeatures].desc.type == DataType::kFLOAT);
}

int32_t MaskPoolingPlugin::onShapeChange(const PluginTensorDesc* in, int32_t nbInputs, const PluginTensorDesc*,
                                         int32_t nbOutputs) noexcept {
  if (nbInputs != 2 || nbOutputs != 1) return -1;
  try {
    const Dims& m = in[kInMasks].dims;
    const Dims& f = in[kInFeatures].dims;
    const std::string why = check_mask_pooling_shapes(m.d[0], m.d[1], m.d[2], f.d[0], f.d[1]);
    if (!why.empty()) {
      report_error(error_prefix() + why);
      return -1;
    }
    if (!tables_ || tables_h_ != m.d[1] || tables_w_ != m.d[2]) {
      tables_ = std::make_shared<const MaskResizer>(params_.mask_resize, m.d[1], m.d[2], params_.pool_size);
      tables_h_ = m.d[1], tables_w_ = m.d[2];
    }
    return 0;
  } catch (const std::exception& e) {
    report_error(error_prefix() + e.what());
    return -1;
  }
}

int32_t MaskPoolingPlugin::enqueue(const PluginTensorDesc* inputDesc, const PluginTensorDesc*,
                                   const void* const* inputs, void* const* outputs, void* workspace,
                                   cudaStream_t stream) noexcept {
  try {
    const Dims& m = inputDesc[kInMasks].dims;
    const Dims& f = inputDesc[kInFeatures].dims;
    const int64_t K = m.d[0], H = m.d[1], W = m.d[2], G = f.d[0], d = f.d[1], P = params_.pool_size;
    if (K == 0) return 0;
    if (!tables_ || tables_h_ != H || tables_w_ != W) {
      report_error(error_prefix() + "enqueue before onShapeChange for this mask size");
      return -1;
    }
    const int64_t ng = exact_sqrt(G);
    auto* base = static_cast<char*>(workspace);
    auto take = [&](size_t bytes) {
      char* p = base;
      base += align_up(bytes);
      return p;
    };
    auto* m8 = reinterpret_cast<uint8_t*>(take(static_cast<size_t>(K * H * W)));
    auto* w = reinterpret_cast<float*>(take(sizeof(float) * K * P * P));
    auto* scratch = reinterpret_cast<float*>(take(sizeof(float) * K * (2 * P * ng + ng * ng)));
    if (resize_tables_bytes(*tables_) > resize_tables_bound(H, W, P)) {
      report_error(error_prefix() + "resize tables exceed their workspace bound");
      return -1;
    }
    char* tables = take(resize_tables_bound(H, W, P));
    const cuda::ResizeTaps ty = stage_axis(tables_->y, tables, stream);
    const cuda::ResizeTaps tx = stage_axis(tables_->x, tables, stream);
    cuda::threshold_to_mask(inputs[kInMasks], element_type(inputDesc[kInMasks].type), K * H * W, m8, stream);
    const DataType ft = inputDesc[kInFeatures].type;
    const float* src = static_cast<const float*>(inputs[kInFeatures]);
    float* out = static_cast<float*>(outputs[0]);
    if (ft != DataType::kFLOAT) {
      auto* src32 = reinterpret_cast<float*>(take(sizeof(float) * G * d));
      out = reinterpret_cast<float*>(take(sizeof(float) * K * d));
      cuda::widen_to_float(inputs[kInFeatures], element_type(ft), G * d, src32, stream);
      src = src32;
    }
    cuda::resize_weights(m8, K, H, W, P, ty, tx, w, stream);
    cuda::mask_pool_pulled_back(w, K, P, src, ng, d, scratch, out, stream);
    if (ft != DataType::kFLOAT) cuda::narrow_from_float(out, K * d, element_type(ft), outputs[0], stream);
    return 0;
  } catch (const std::exception& e) {
    report_error(error_prefix() + "enqueue failed: " + e.what());
    return -1;
  }
}

IPluginV3* MaskPoolingPlugin::attachToContext(IPluginResourceContext*) noexcept { return clone(); }

const PluginFieldCollection* MaskPoolingPlugin::getFieldsToSerialize() noexcept {
  try {
    serialized_.clear();
    serialized_.add_int32("pool_size", params_.pool_size);
    serialized_.add_text("mask_resize", mask_resize_name(params_.mask_resize));
    return serialized_.collection();
  } catch (const std::exception& e) {
    report_error(error_prefix() + e.what());
    return nullptr;
  }
}

MaskPoolingCreator::MaskPoolingCreator() {
  names_.add_name("pool_size", PluginFieldType::kINT32, 1);
  names_.add_name("mask_resize", PluginFieldType::kCHAR, 0);
}

IPluginV3* MaskPoolingCreator::createPlugin(const char*, const PluginFieldCollection* fc, TensorRTPhase) noexcept {
  try {
    return new MaskPoolingPlugin(parse_mask_pooling(fc));
  } catch (const std::exception& e) {
    report_error(e.what());
    return nullptr;
  }
}

const PluginFieldCollection* MaskPoolingCreator::getFieldNames() noexcept { return names_.collection(); }
const char* MaskPoolingCreator::getPluginName() const noexcept { return kMaskPoolingName; }
const char* MaskPoolingCreator::getPluginVersion() const noexcept { return kVersion; }
const char* MaskPoolingCreator::getPluginNamespace() const noexcept { return kNamespace; }

}  // namespace hrseg::trt::plugin
