// RegionAttention (namespace "hrseg", version "1"): HRP's region attention fused with the γ-mix
// (SPEC.md §4). Inputs q [G, d] = X_g W_q + b_q, kv [N²·G, 2d] (each row k then v of one local
// token, row-major over the (N·n_g)² local grid), xg [G, d] = X_g, with G = n_g². Outputs
// fr [G, d] (F_r) and fh [G, d] = γ·xg + (1−γ)·fr (F_h). Fields: magnification (N, int, 1..8),
// gamma (float, [0, 1]). fp32, fp16 and bf16 I/O, all of one type; the kernel computes in fp32.
#pragma once
#include <NvInferRuntime.h>

#include <string>

#include "../common/pluginFields.h"

namespace hrseg::trt::plugin {

struct RegionAttentionParams {
  int32_t magnification = 2;
  float gamma = 0.8f;
};

// Throws std::invalid_argument with a message naming the field.
RegionAttentionParams parse_region_attention(const nvinfer1::PluginFieldCollection* fc);

// "" when q [G, d], kv [L, dkv], xg [G2, d2] fit the params, else why not.
std::string check_region_attention_shapes(const RegionAttentionParams& p, int64_t G, int64_t d, int64_t L, int64_t dkv,
                                          int64_t G2, int64_t d2);

class RegionAttentionPlugin final : public nvinfer1::IPluginV3,
                                    public nvinfer1::IPluginV3OneCore,
                                    public nvinfer1::IPluginV3OneBuild,
                                    public nvinfer1::IPluginV3OneRuntime {
 public:
  explicit RegionAttentionPlugin(RegionAttentionParams params);
  const RegionAttentionParams& params() const { return params_; }

  // IPluginV3
  nvinfer1::IPluginCapability* getCapabilityInterface(nvinfer1::PluginCapabilityType type) noexcept override;
  nvinfer1::IPluginV3* clone() noexcept override;
  // IPluginV3OneCore
  const char* getPluginName() const noexcept override;
  const char* getPluginVersion() const noexcept override;
  const char* getPluginNamespace() const noexcept override;
  // IPluginV3OneBuild
  int32_t configurePlugin(const nvinfer1::DynamicPluginTensorDesc* in, int32_t nbInputs,
                          const nvinfer1::DynamicPluginTensorDesc* out, int32_t nbOutputs) noexcept override;
  int32_t getOutputDataTypes(nvinfer1::DataType* outputTypes, int32_t nbOutputs, const nvinfer1::DataType* inputTypes,
                             int32_t nbInputs) const noexcept override;
  int32_t getOutputShapes(const nvinfer1::DimsExprs* inputs, int32_t nbInputs, const nvinfer1::DimsExprs* shapeInputs,
                          int32_t nbShapeInputs, nvinfer1::DimsExprs* outputs, int32_t nbOutputs,
                          nvinfer1::IExprBuilder& exprBuilder) noexcept override;
  bool supportsFormatCombination(int32_t pos, const nvinfer1::DynamicPluginTensorDesc* inOut, int32_t nbInputs,
                                 int32_t nbOutputs) noexcept override;
  int32_t getNbOutputs() const noexcept override { return 2; }
  size_t getWorkspaceSize(const nvinfer1::DynamicPluginTensorDesc* inputs, int32_t nbInputs,
                          const nvinfer1::DynamicPluginTensorDesc* outputs, int32_t nbOutputs) const noexcept override;
  // IPluginV3OneRuntime
  int32_t onShapeChange(const nvinfer1::PluginTensorDesc* in, int32_t nbInputs, const nvinfer1::PluginTensorDesc* out,
                        int32_t nbOutputs) noexcept override;
  int32_t enqueue(const nvinfer1::PluginTensorDesc* inputDesc, const nvinfer1::PluginTensorDesc* outputDesc,
                  const void* const* inputs, void* const* outputs, void* workspace,
                  cudaStream_t stream) noexcept override;
  nvinfer1::IPluginV3* attachToContext(nvinfer1::IPluginResourceContext* context) noexcept override;
  const nvinfer1::PluginFieldCollection* getFieldsToSerialize() noexcept override;

 private:
  RegionAttentionParams params_;
  FieldWriter serialized_;
};

class RegionAttentionCreator final : public nvinfer1::IPluginCreatorV3One {
 public:
  RegionAttentionCreator();
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
