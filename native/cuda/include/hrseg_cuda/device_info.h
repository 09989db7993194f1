// What the CUDA runtime can see. Plain C++ types only, so that the addon, the C++ tests and the
// TensorRT plugins can all include it without CUDA headers.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace hrseg::cuda {

struct DeviceInfo {
  int index = 0;
  std::string name;
  int major = 0;  // compute capability
  int minor = 0;
  uint64_t total_memory = 0;  // bytes
  int multiprocessors = 0;
};

struct DeviceQuery {
  std::vector<DeviceInfo> devices;
  int driver_version = 0;   // 0 when no driver is installed
  int runtime_version = 0;  // the CUDA runtime linked into this binary
  std::string reason;       // why `devices` is empty; empty when it is not
};

// Never throws: a machine without a driver or a GPU is a normal answer, not an error.
DeviceQuery query_devices() noexcept;

// The architectures the kernels were compiled for, e.g. "sm_80;sm_86;sm_89;sm_90;compute_90".
const char* compiled_architectures() noexcept;

}  // namespace hrseg::cuda
