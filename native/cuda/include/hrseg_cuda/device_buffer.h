// Device memory: an owning buffer, and a pool that keeps freed blocks for reuse so that repeated
// calls (one image after another) do not pay cudaMalloc/cudaFree each time. The pool is
// stream-ordered, as cudaFreeAsync is: a buffer released while work queued on its stream may still
// read or write it is handed out again only once that work has finished (an event recorded at the
// release), so the next owner, on any stream or host thread, never races with it.
#pragma once
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

#include "hrseg_cuda/check.h"

namespace hrseg::cuda {

class DevicePool {
 public:
  ~DevicePool();
  // At least `bytes`, 256-byte aligned, free of any queued work. Blocks are rounded up to a power
  // of two ≥ 4 KiB.
  void* acquire(size_t bytes);
  // `ptr` is reused once the work queued on `stream` so far has finished (nullptr: the legacy
  // default stream, which waits for every blocking stream).
  void release(void* ptr, cudaStream_t stream) noexcept;
  // Waits for the blocks still in use by queued work, then frees every cached block (not the ones
  // in use).
  void trim() noexcept;
  size_t cached_bytes() const noexcept;
  size_t in_use_bytes() const noexcept;
  // Users of the cache (see PoolHold): when the last one lets go, the cache is trimmed.
  void hold() noexcept;
  void unhold() noexcept;

 private:
  struct Pending {
    size_t size;
    void* ptr;
    cudaEvent_t done;  // recorded on the releasing stream
  };
  // Moves the pending blocks whose work has finished to free_ (mutex_ held).
  void reclaim_locked() noexcept;
  mutable std::mutex mutex_;
  std::multimap<size_t, void*> free_;  // size → block
  std::map<void*, size_t> used_;
  std::vector<Pending> pending_;
  std::vector<cudaEvent_t> events_;  // recycled
  int64_t holds_ = 0;
};

// The process-wide pool used by the head and the mask generator.
DevicePool& default_pool();

// Keeps a pool's cache while it lives. The head, each image it leaves on the device and the mask
// generator hold the default pool (as their first member, so that it outlives their buffers): when
// the last of them goes the cached blocks go back to the driver, and a process that has disposed
// its segmenters holds no device memory for them.
class PoolHold {
 public:
  explicit PoolHold(DevicePool& pool = default_pool()) noexcept : pool_(&pool) { pool.hold(); }
  ~PoolHold() { pool_->unhold(); }
  PoolHold(const PoolHold&) = delete;
  PoolHold& operator=(const PoolHold&) = delete;

 private:
  DevicePool* pool_;
};

template <typename T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  // `stream`: where the work that uses it is queued (its release waits for that work).
  explicit DeviceBuffer(size_t count, cudaStream_t stream = nullptr, DevicePool& pool = default_pool())
      : pool_(&pool),
        stream_(stream),
        count_(count),
        ptr_(static_cast<T*>(count ? pool.acquire(count * sizeof(T)) : nullptr)) {}
  ~DeviceBuffer() { reset(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept : pool_(o.pool_), stream_(o.stream_), count_(o.count_), ptr_(o.ptr_) {
    o.ptr_ = nullptr;
    o.count_ = 0;
  }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      pool_ = o.pool_, stream_ = o.stream_, count_ = o.count_, ptr_ = o.ptr_;
      o.ptr_ = nullptr, o.count_ = 0;
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* get() const noexcept { return ptr_; }
  size_t size() const noexcept { return count_; }
  size_t bytes() const noexcept { return count_ * sizeof(T); }
  // The stream whose queued work is the last to use this buffer (when that changes).
  void set_stream(cudaStream_t stream) noexcept { stream_ = stream; }
  cudaStream_t stream() const noexcept { return stream_; }
  void reset() noexcept {
    if (ptr_) pool_->release(ptr_, stream_);
    ptr_ = nullptr;
    count_ = 0;
  }

 private:
  DevicePool* pool_ = nullptr;
  cudaStream_t stream_ = nullptr;
  size_t count_ = 0;
  T* ptr_ = nullptr;
};

// A device copy of `n` host elements, made on `stream`. From pageable host memory the source may
// be reused as soon as this returns.
template <typename T>
DeviceBuffer<T> to_device(const T* host, size_t n, cudaStream_t stream = nullptr) {
  DeviceBuffer<T> d(n, stream);
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
