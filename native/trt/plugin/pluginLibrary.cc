// libhrseg_trt_plugins.so's entry points, the ones TensorRT's plugin registry looks for in a
// plugin library (IPluginRegistry::loadLibrary, `trtexec --dynamicPlugins`, Triton): the creators,
// and the logger finder they log through.
#include <NvInferRuntime.h>

#include "common/pluginLogger.h"
#include "common/pluginRegistry.h"

extern "C" __attribute__((visibility("default"))) void setLoggerFinder(nvinfer1::ILoggerFinder* finder) {
  hrseg::trt::plugin::set_logger_finder(finder);
}

extern "C" __attribute__((visibility("default"))) nvinfer1::IPluginCreatorInterface* const* getCreators(
    int32_t& nbCreators) {
  return hrseg::trt::plugin::plugin_creators(nbCreators);
}
