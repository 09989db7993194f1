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

// Registers hrseg's plugin creators in `registry` once per process (the registry is libnvinfer's,
// shared by every builder and runtime).
void register_plugins(nvinfer1::IPluginRegistry& registry);

// Makes `device` current and checks it exists; Failure(UNAVAILABLE) otherwise.
void use_device(int32_t device);

// A CUDA error as a Failure: out of memory gets its own status.
[[noreturn]] void cuda_failure(int error, const char* what);

nvinfer1::Dims to_dims(int32_t nb, const int64_t* d);

// Copies a message into a caller's buffer (always NUL-terminated when err_len > 0).
void write_error(const std::string& message, char* err, size_t err_len) noexcept;

}  // namespace hrseg::trt
