// Device memory helpers for the CUDA tests and benchmarks: upload, download, and outputs filled
// with a poison pattern (NaN for floats, 0xFF bytes) so that an element a kernel forgot to write
// fails the comparison.
#pragma once
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "check.h"
#include "hrseg_cuda/check.h"
#include "hrseg_cuda/device_buffer.h"
#include "hrseg_cuda/device_info.h"

namespace check {

inline void require_gpu() {
  auto q = hrseg::cuda::query_devices();
  if (q.devices.empty()) SKIP("no CUDA device: " + q.reason);
}

template <typename T>
hrseg::cuda::DeviceBuffer<T> upload(const std::vector<T>& host) {
  return hrseg::cuda::to_device(host.data(), host.size());
}

template <typename T>
hrseg::cuda::DeviceBuffer<T> poisoned(size_t n) {
  hrseg::cuda::DeviceBuffer<T> d(n);
  if (n) HRSEG_CUDA_CHECK(cudaMemset(d.get(), 0xFF, n * sizeof(T)));
  return d;
}

template <typename T>
std::vector<T> download(const hrseg::cuda::DeviceBuffer<T>& d) {
  std::vector<T> h(d.size());
  HRSEG_CUDA_CHECK(cudaDeviceSynchronize());  // kernels on any stream have finished
  hrseg::cuda::to_host(d, h.data(), h.size());
  HRSEG_CUDA_CHECK(cudaDeviceSynchronize());
  return h;
}

// max |a − b| / max |b|; NaN anywhere (a poisoned element) gives infinity.
inline double rel_err(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return INFINITY;
  double err = 0, scale = 1e-30;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i])) return INFINITY;
    scale = std::max(scale, std::fabs(double(b[i])));
    err = std::max(err, std::fabs(double(a[i]) - b[i]));
  }
  return err / scale;
}

}  // namespace check
