#include "backendCommon.h"

#include <cuda_runtime_api.h>

#include <cstring>
#include <mutex>

#include "../plugin/common/pluginConstants.h"
#include "../plugin/common/pluginLogger.h"
#include "../plugin/common/pluginRegistry.h"
#include "errorRecorder.h"
#include "nvinferLibrary.h"
#include "trtLogger.h"

namespace hrseg::trt {

void register_plugins(nvinfer1::IPluginRegistry& registry) {
  static std::mutex mutex;
  static bool done = false;
  std::lock_guard<std::mutex> lock(mutex);
  if (done) return;
  plugin::set_logger(&process_logger());
  // The registry reports a refused registration to its error recorder (else to TensorRT's global
  // logger, which nobody reads): ours, so the reason reaches the error below. Not thread-safe in
  // TensorRT (NvInferRuntimeCommon.h, setErrorRecorder): set here, under this mutex, once.
  if (!registry.getErrorRecorder()) registry.setErrorRecorder(&process_error_recorder());
  int32_t n = 0;
  nvinfer1::IPluginCreatorInterface* const* creators = plugin::plugin_creators(n);
  std::string missing;
  for (int32_t i = 0; i < n; ++i) {
    auto* creator = static_cast<nvinfer1::IPluginCreatorV3One*>(creators[i]);
    const uint64_t mark = process_logger().mark();
    if (registry.registerCreator(*creator, plugin::kNamespace)) continue;
    // Refused: fine when a creator of the same name, version and namespace is already there.
    if (registry.getCreator(creator->getPluginName(), creator->getPluginVersion(), plugin::kNamespace)) continue;
    const std::string said = process_logger().since(mark);
    missing +=
        std::string(missing.empty() ? "" : "; ") + creator->getPluginName() + (said.empty() ? "" : " (" + said + ")");
  }
  if (!missing.empty()) throw Failure(HRSEG_TRT_RUNTIME, "TensorRT refused to register hrseg's plugins: " + missing);
  done = true;
}

namespace {

// Whether TensorRT's words mean that CUDA itself is unusable here (no driver, no device).
bool cuda_unavailable(const std::string& said) {
  return said.find("CUDA initialization failure") != std::string::npos ||
         said.find("no CUDA-capable device") != std::string::npos || said.find("CUDA driver") != std::string::npos;
}

template <typename T>
T* checked_factory(void* (*factory)(void*, int32_t), const char* what, const RuntimeLibrary& library) {
  CollectingLogger& logger = process_logger();
  const uint64_t mark = logger.mark();
  void* made = factory(&logger, factory_version(library.version));
  const std::string said = logger.since(mark, /*this_thread=*/true);
  if (made && said.empty()) return static_cast<T*>(made);
  const int32_t status = cuda_unavailable(said) ? HRSEG_TRT_UNAVAILABLE : HRSEG_TRT_RUNTIME;
  throw Failure(status, std::string("TensorRT (") + library.path + ") could not create " + what +
                            (said.empty() ? "" : "; TensorRT said:\n" + said));
}

}  // namespace

nvinfer1::IRuntime* create_runtime(const RuntimeLibrary& lib) {
  nvinfer1::IRuntime* runtime = checked_factory<nvinfer1::IRuntime>(lib.create_runtime, "a runtime", lib);
  runtime->setErrorRecorder(&process_error_recorder());
  return runtime;
}

nvinfer1::IBuilder* create_builder(const NvInferLibrary& lib) {
  if (!lib.cannot_build.empty()) throw Failure(HRSEG_TRT_UNAVAILABLE, lib.cannot_build);
  nvinfer1::IBuilder* builder = checked_factory<nvinfer1::IBuilder>(lib.create_builder, "a builder", lib);
  builder->setErrorRecorder(&process_error_recorder());
  return builder;
}

void use_device(int32_t device) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0)
    throw Failure(HRSEG_TRT_UNAVAILABLE,
                  std::string("no CUDA device: ") + (e != cudaSuccess ? cudaGetErrorString(e) : "none found"));
  if (device < 0 || device >= count)
    throw Failure(HRSEG_TRT_INVALID,
                  "GPU " + std::to_string(device) + " does not exist (this machine has " + std::to_string(count) + ")");
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
