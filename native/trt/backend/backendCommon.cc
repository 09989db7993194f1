#include "backendCommon.h"

#include <cuda_runtime_api.h>

#include <cstring>
#include <mutex>

#include "../plugin/common/pluginConstants.h"
#include "../plugin/common/pluginLogger.h"
#include "../plugin/common/pluginRegistry.h"
#include "trtLogger.h"

namespace hrseg::trt {

void register_plugins(nvinfer1::IPluginRegistry& registry) {
  static std::once_flag once;
  static std::string error;
  std::call_once(once, [&registry] {
    plugin::set_logger(&process_logger());
    int32_t n = 0;
    nvinfer1::IPluginCreatorInterface* const* creators = plugin::plugin_creators(n);
    for (int32_t i = 0; i < n; ++i)
      if (!registry.registerCreator(*creators[i], plugin::kNamespace)) error = "TensorRT refused to register hrseg's plugins: " + process_logger().last_error();
  });
  if (!error.empty()) throw Failure(HRSEG_TRT_RUNTIME, error);
}

void use_device(int32_t device) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0)
    throw Failure(HRSEG_TRT_UNAVAILABLE, std::string("no CUDA device: ") + (e != cudaSuccess ? cudaGetErrorString(e) : "none found"));
  if (device < 0 || device >= count)
    throw Failure(HRSEG_TRT_INVALID, "GPU " + std::to_string(device) + " does not exist (this machine has " +
                                          std::to_string(count) + ")");
  e = cudaSetDevice(device);
  if (e != cudaSuccess) cuda_failure(e, "cudaSetDevice");
}

void cuda_failure(int error, const char* what) {
  const auto e = static_cast<cudaError_t>(error);
  cudaGetLastError();
  throw Failure(e == cudaErrorMemoryAllocation ? HRSEG_TRT_OUT_OF_MEMORY : HRSEG_TRT_RUNTIME,
                std::string("CUDA: ") + what + ": " + cudaGetErrorString(e));
}

nvinfer1::Dims to_dims(int32_t nb, const int64_t* d) {
  if (nb < 0 || nb > HRSEG_TRT_MAX_DIMS || nb > nvinfer1::Dims::MAX_DIMS)
    throw Failure(HRSEG_TRT_INVALID, "a tensor may have at most " + std::to_string(HRSEG_TRT_MAX_DIMS) + " dimensions");
  nvinfer1::Dims dims{};
  dims.nbDims = nb;
  for (int32_t i = 0; i < nb; ++i) dims.d[i] = d[i];
  return dims;
}

void write_error(const std::string& message, char* err, size_t err_len) noexcept {
  if (!err || err_len == 0) return;
  const size_t n = message.size() < err_len - 1 ? message.size() : err_len - 1;
  std::memcpy(err, message.data(), n);
  err[n] = '\0';
}

}  // namespace hrseg::trt
