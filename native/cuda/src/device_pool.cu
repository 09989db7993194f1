#include <cuda_runtime_api.h>

#include "hrseg_cuda/check.h"
#include "hrseg_cuda/device_buffer.h"

namespace hrseg::cuda {

namespace {
size_t bucket(size_t bytes) {
  size_t b = 4096;
  while (b < bytes) b <<= 1;
  return b;
}
}  // namespace

DevicePool::~DevicePool() { trim(); }

void* DevicePool::acquire(size_t bytes) {
  const size_t size = bucket(bytes);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = free_.find(size);
    if (it != free_.end()) {
      void* p = it->second;
      free_.erase(it);
      used_[p] = size;
      return p;
    }
  }
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, size);
  if (e == cudaErrorMemoryAllocation) {  // give the cache back and try once more
    cudaGetLastError();
    trim();
    e = cudaMalloc(&p, size);
  }
  if (e != cudaSuccess) fail(e, "cudaMalloc");
  std::lock_guard<std::mutex> lock(mutex_);
  used_[p] = size;
  return p;
}

void DevicePool::release(void* ptr) noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = used_.find(ptr);
  if (it == used_.end()) return;
  free_.emplace(it->second, ptr);
  used_.erase(it);
}

void DevicePool::trim() noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& [size, p] : free_) cudaFree(p);
  free_.clear();
}

size_t DevicePool::cached_bytes() const noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t n = 0;
  for (auto& [size, p] : free_) n += size;
  return n;
}

size_t DevicePool::in_use_bytes() const noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t n = 0;
  for (auto& [p, size] : used_) n += size;
  return n;
}

DevicePool& default_pool() {
  static DevicePool* pool = new DevicePool();  // never destroyed: the driver may be gone at exit
  return *pool;
}

}  // namespace hrseg::cuda
