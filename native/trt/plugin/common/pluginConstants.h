// Names every hrseg plugin shares with the ONNX graphs that use them (lib/trt/head-graph.ts).
#pragma once

namespace hrseg::trt::plugin {

constexpr const char* kNamespace = "hrseg";
constexpr const char* kVersion = "1";
constexpr const char* kRegionAttentionName = "RegionAttention";
constexpr const char* kMaskPoolingName = "MaskPooling";

// Workspace sub-buffers start on 256-byte boundaries (doubles and vector loads need alignment).
constexpr size_t align_up(size_t bytes) { return (bytes + 255) & ~static_cast<size_t>(255); }

}  // namespace hrseg::trt::plugin
