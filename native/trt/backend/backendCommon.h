// Shared by the builder and the runner: failures that carry an hrseg_trt_status, TensorRT objects
// held by unique_ptr, plugin registration and Dims conversion.
#pragma once
#include <NvInfer.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "hrseg_trt_api.h"

namespace hrseg::trt {

struct Failure : std::runtime_error {
  int32_t status;
  Failure(int32_t s, const std::string& m) : std::runtime_error(m), status(s) {}
};

// TensorRT 10+ objects are destroyed with delete.
template <typename T>
using Owned = std::unique_ptr<T>;

// Registers hrseg's plugin creators in TensorRT's *global* registry (getPluginRegistry(), as
// NVIDIA's samples do through initLibNvInferPlugins), once per process. The registries that
// IBuilder::getPluginRegistry and IRuntime::getPluginRegistry return are local to that object
// (NvInfer.h, NvInferRuntime.h: "the local plugin registry"): creators put there are unknown to
// every later builder, runtime and ONNX parser. Creators already present under hrseg's names
// (libhrseg_trt_plugins.so loaded by the application) are accepted. Throws Failure(RUNTIME).
void register_plugins(nvinfer1::IPluginRegistry& global_registry);

struct RuntimeLibrary;
struct NvInferLibrary;

// TensorRT's factories, checked: a failure carries TensorRT's own words for this call (from this
// thread) and is UNAVAILABLE when TensorRT could not initialise CUDA. TensorRT 11.1 returns a
// non-null, unusable pointer when createInferRuntime fails (0x228 seen from the real
// libnvinfer_lean.so.11 on a machine without a driver), so an error reported during the call
// counts as failure whatever the pointer, and that pointer is never used or deleted.
nvinfer1::IRuntime* create_runtime(const RuntimeLibrary& lib);
nvinfer1::IBuilder* create_builder(const NvInferLibrary& lib);

// Makes `device` current and checks it exists; Failure(UNAVAILABLE) otherwise.
void use_device(int32_t device);

// A CUDA error as a Failure: out of memory gets its own status.
[[noreturn]] void cuda_failure(int error, const char* what);

nvinfer1::Dims to_dims(int32_t nb, const int64_t* d);

// Copies a message into a caller's buffer (always NUL-terminated when err_len > 0).
void write_error(const std::string& message, char* err, size_t err_len) noexcept;

}  // namespace hrseg::trt
