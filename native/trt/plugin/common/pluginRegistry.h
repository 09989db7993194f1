// The creators of every hrseg plugin, one instance each for the life of the process: TensorRT's
// registry keeps pointers to them.
#pragma once
#include <NvInferRuntime.h>

#include <cstdint>

namespace hrseg::trt::plugin {

nvinfer1::IPluginCreatorInterface* const* plugin_creators(int32_t& count) noexcept;

}  // namespace hrseg::trt::plugin
