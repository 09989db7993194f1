#include <cuda_runtime_api.h>

#include "hrseg_cuda/device_info.h"

#ifndef HRSEG_CUDA_ARCH_LIST
#define HRSEG_CUDA_ARCH_LIST "unknown"
#endif

namespace hrseg::cuda {

DeviceQuery query_devices() noexcept {
  DeviceQuery q;
  cudaRuntimeGetVersion(&q.runtime_version);
  if (cudaDriverGetVersion(&q.driver_version) != cudaSuccess) q.driver_version = 0;
  int count = 0;
  cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    // The static runtime reports a missing or too old driver here rather than failing to load.
    if (err == cudaErrorInsufficientDriver)
      q.reason = q.driver_version == 0 ? "no NVIDIA driver is installed"
                                       : "the NVIDIA driver is older than this build's CUDA runtime";
    else if (err == cudaErrorNoDevice)
      q.reason = "no CUDA device is present";
    else
      q.reason = std::string("CUDA could not be initialised: ") + cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky error so later queries start clean
    return q;
  }
  if (count == 0) {
    q.reason = "no CUDA device is present";
    return q;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
    DeviceInfo d;
    d.index = i;
    d.name = p.name;
    d.major = p.major;
    d.minor = p.minor;
    d.total_memory = p.totalGlobalMem;
    d.multiprocessors = p.multiProcessorCount;
    q.devices.push_back(std::move(d));
  }
  if (q.devices.empty()) q.reason = "CUDA devices are present but none could be queried";
  return q;
}

const char* compiled_architectures() noexcept { return HRSEG_CUDA_ARCH_LIST; }

}  // namespace hrseg::cuda
