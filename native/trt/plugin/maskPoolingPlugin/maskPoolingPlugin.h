// MaskPooling (namespace "hrseg", version "1"): HRP's mask pooling (SPEC.md §4, eq. 10) in the
// pulled-back form. Inputs masks [K, H, W] (fp32, fp16 or bf16, read as > 0.5: TensorRT passes no
// uint8 or bool tensor to a plugin (NvInferRuntimePlugin.h, PluginTensorDesc::type), so the graph
// casts its uint8 masks input first, to fp16, the narrowest exact type) and the
// pooled features [G, d] (F_h or F_r: the graph wires the one its poolSource names), G = n_g².
// Output [K, d] = Σ_p w_k(p)·up(F)(p) / (Σ_p w_k(p) + 1e-8), w_k the padded mask resized to P×P.
// Fields: pool_size (P, int, 1..4096), mask_resize ("bilinear-antialias" | "area"). Features in
// fp32, fp16 or bf16 (output of the same type); the kernels compute in fp32/fp64.
#pragma once
#include <NvInferRuntime.h>

#include <memory>
#include <string>

#include "../common/pluginFields.h"
#include "hrseg/mask_resize.h"

namespace hrseg::trt::plugin {

struct MaskPoolingParams {
  int32_t pool_size = 256;
  MaskResize mask_resize = MaskResize::BilinearAntialias;
};

MaskPoolingParams parse_mask_pooling(const nvinfer1::PluginFieldCollection* fc);
const char* mask_resize_name(MaskResize r);

// "" when masks [K, H, W] and features [G, d] fit, else why not.
std::string check_mask_pooling_shapes(int64_t K, int64_t H, int64_t W, int64_t G, int64_t d);

// Workspace bytes for K proposals of at most H×W over G features of width d: the thresholded
// masks, the weights, the pull-back scratch, the resize tables and, for fp16/bf16 features, fp32
// copies of the features and the output.
size_t mask_pooling_workspace(const MaskPoolingParams& p, int64_t K, int64_t H, int64_t W, int64_t G, int64_t d,
                              bool features_f32);
// The device bytes of a resizer's tables as enqueue lays them out, and a bound on them for masks
// of at most H×W (each axis holds at most 2·max(H, W) + 4·P weights: a triangle filter of support
// max(in/P, 1) has ≤ 2·in/P + 3 taps per output, a box ≤ in/P + 2).
size_t resize_tables_bytes(const MaskResizer& r);
size_t resize_tables_bound(int64_t H, int64_t W, int64_t P);

class MaskPoolingPlugin final : public nvinfer1::IPluginV3,
                                public nvinfer1::IPluginV3OneCore,
                                public nvinfer1::IPluginV3OneBuild,
                                public nvinfer1::IPluginV3OneRuntime {
 public:
  explicit MaskPoolingPlugin(MaskPoolingParams params);
  ~MaskPoolingPlugin() override;
  const MaskPoolingParams& params() const { return params_; }
  // Whether onShapeChange has built the resize tables for masks of H×W (enqueue needs them).
  bool configured_for(int64_t H, int64_t W) const { return tables_ && tables_h_ == H && tables_w_ == W; }

  nvinfer1::IPluginCapability* getCapabilityInterface(nvinfer1::PluginCapabilityType type) noexcept override;
  nvinfer1::IPluginV3* clone() noexcept override;
  const char* getPluginName() const noexcept override;
  const char* getPluginVersion() const noexcept override;
  const char* getPluginNamespace() const noexcept override;
  int32_t configurePlugin(const nvinfer1::DynamicPluginTensorDesc* in, int32_t nbInputs,
                          const nvinfer1::DynamicPluginTensorDesc* out, int32_t nbOutputs) noexcept override;
  int32_t getOutputDataTypes(nvinfer1::DataType* outputTypes, int32_t nbOutputs, const nvinfer1::DataType* inputTypes,
                             int32_t nbInputs) const noexcept override;
  int32_t getOutputShapes(const nvinfer1::DimsExprs* inputs, int32_t nbInputs, const nvinfer1::DimsExprs* shapeInputs,
                          int32_t nbShapeInputs, nvinfer1::DimsExprs* outputs, int32_t nbOutputs,
                          nvinfer1::IExprBuilder& exprBuilder) noexcept override;
  bool supportsFormatCombination(int32_t pos, const nvinfer1::DynamicPluginTensorDesc* inOut, int32_t nbInputs,
                                 int32_t nbOutputs) noexcept override;
  int32_t getNbOutputs() const noexcept override { return 1; }
  size_t getWorkspaceSize(const nvinfer1::DynamicPluginTensorDesc* inputs, int32_t nbInputs,
                          const nvinfer1::DynamicPluginTensorDesc* outputs, int32_t nbOutputs) const noexcept override;
  int32_t onShapeChange(const nvinfer1::PluginTensorDesc* in, int32_t nbInputs, const nvinfer1::PluginTensorDesc* out,
                        int32_t nbOutputs) noexcept override;
  int32_t enqueue(const nvinfer1::PluginTensorDesc* inputDesc, const nvinfer1::PluginTensorDesc* outputDesc,
                  const void* const* inputs, void* const* outputs, void* workspace,
                  cudaStream_t stream) noexcept override;
  nvinfer1::IPluginV3* attachToContext(nvinfer1::IPluginResourceContext* context) noexcept override;
  const nvinfer1::PluginFieldCollection* getFieldsToSerialize() noexcept override;

 private:
  MaskPoolingParams params_;
  FieldWriter serialized_;
  // The resize tables for the current (H, W), built on the host in onShapeChange (no CUDA call
  // there) and copied into the workspace by enqueue on TensorRT's stream. A clone carries them:
  // a configured plugin's clone must be configured too (NvInferRuntime.h, IPluginV3OneRuntime).
  std::shared_ptr<const MaskResizer> tables_;
  int64_t tables_h_ = -1, tables_w_ = -1;
};

class MaskPoolingCreator final : public nvinfer1::IPluginCreatorV3One {
 public:
  MaskPoolingCreator();
  nvinfer1::IPluginV3* createPlugin(const char* name, const nvinfer1::PluginFieldCollection* fc,
                                    nvinfer1::TensorRTPhase phase) noexcept override;
  const nvinfer1::PluginFieldCollection* getFieldNames() noexcept override;
  const char* getPluginName() const noexcept override;
  const char* getPluginVersion() const noexcept override;
  const char* getPluginNamespace() const noexcept override;

 private:
  FieldWriter names_;
};

}  // namespace hrseg::trt::plugin
