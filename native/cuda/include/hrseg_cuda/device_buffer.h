// Device memory: an owning buffer, and a pool that keeps freed blocks for reuse so that repeated
// calls (one image after another) do not pay cudaMalloc/cudaFree each time.
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>

#include "hrseg_cuda/check.h"

namespace hrseg::cuda {

class DevicePool {
 public:
  ~DevicePool();
  // At least `bytes`, 256-byte aligned. Blocks are rounded up to a power of two ≥ 4 KiB.
  void* acquire(size_t bytes);
  void release(void* ptr) noexcept;
  // Frees every cached block (not the ones in use).
  void trim() noexcept;
  size_t cached_bytes() const noexcept;
  size_t in_use_bytes() const noexcept;

 private:
  mutable std::mutex mutex_;
  std::multimap<size_t, void*> free_;  // size → block
  std::map<void*, size_t> used_;
};

// The process-wide pool used by the head and the mask generator.
DevicePool& default_pool();

template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t count, DevicePool& pool = default_pool())
      : pool_(&pool), count_(count), ptr_(static_cast<T*>(count ? pool.acquire(count * sizeof(T)) : nullptr)) {}
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept : pool_(o.pool_), count_(o.count_), ptr_(o.ptr_) { o.ptr_ = nullptr; o.count_ = 0; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      pool_ = o.pool_, count_ = o.count_, ptr_ = o.ptr_;
      o.ptr_ = nullptr, o.count_ = 0;
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* get() const noexcept { return ptr_; }
  size_t size() const noexcept { return count_; }
  size_t bytes() const noexcept { return count_ * sizeof(T); }
  void reset() noexcept {
    if (ptr_) pool_->release(ptr_);
    ptr_ = nullptr;
    count_ = 0;
  }

 private:
  DevicePool* pool_ = nullptr;
  size_t count_ = 0;
  T* ptr_ = nullptr;
};

// A device copy of `n` host elements, made on `stream`. From pageable host memory the source may
// be reused as soon as this returns.
template <typename T>
DeviceBuffer<T> to_device(const T* host, size_t n, cudaStream_t stream = nullptr) {
  DeviceBuffer<T> d(n);
  if (n) HRSEG_CUDA_CHECK(cudaMemcpyAsync(d.get(), host, n * sizeof(T), cudaMemcpyHostToDevice, stream));
  return d;
}

// The first `n` elements of `d` into host memory, ordered on `stream` (synchronise before reading
// them when `host` is pinned).
template <typename T>
void to_host(const DeviceBuffer<T>& d, T* host, size_t n, cudaStream_t stream = nullptr) {
  if (n) HRSEG_CUDA_CHECK(cudaMemcpyAsync(host, d.get(), n * sizeof(T), cudaMemcpyDeviceToHost, stream));
}

}  // namespace hrseg::cuda
