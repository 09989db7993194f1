#include <cuda_runtime_api.h>

#include "hrseg_cuda/check.h"
#include "hrseg_cuda/device_buffer.h"

#if defined(HRSEG_CUDASIM) && defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <cstring>
// On the simulated GPU a block is poisoned from the moment the pool may hand it out (the work on
// its releasing stream has finished) until it does: work that still touches it (queued on another
// stream than the one it was released on, unordered) is then a use-after-poison report naming the
// kernel, not a silent race with the next owner.
#define HRSEG_POOL_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define HRSEG_POOL_UNPOISON(p, n) (ASAN_UNPOISON_MEMORY_REGION(p, n), std::memset(p, 0xFF, n))
#else
#define HRSEG_POOL_POISON(p, n) ((void)0)
#define HRSEG_POOL_UNPOISON(p, n) ((void)0)
#endif

namespace hrseg::cuda {

namespace {
size_t bucket(size_t bytes) {
  size_t b = 4096;
  while (b < bytes) b <<= 1;
  return b;
}
}  // namespace

DevicePool::~DevicePool() { trim(); }

void DevicePool::reclaim_locked() noexcept {
  for (size_t i = 0; i < pending_.size();) {
    Pending& p = pending_[i];
    const cudaError_t e = cudaEventQuery(p.done);
    if (e == cudaErrorNotReady) {
      ++i;
      continue;
    }
    if (e != cudaSuccess)
      cudaGetLastError();  // a failed query: the block is not reused
    else {
      free_.emplace(p.size, p.ptr);
      HRSEG_POOL_POISON(p.ptr, p.size);
    }
    events_.push_back(p.done);
    pending_[i] = pending_.back();
    pending_.pop_back();
  }
}

void* DevicePool::acquire(size_t bytes) {
  const size_t size = bucket(bytes);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    reclaim_locked();
    auto it = free_.find(size);
    if (it != free_.end()) {
      void* p = it->second;
      free_.erase(it);
      used_[p] = size;
      HRSEG_POOL_UNPOISON(p, size);
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
  if (e != cudaSuccess) fail(e, ("cudaMalloc of " + std::to_string(size) + " bytes").c_str());
  std::lock_guard<std::mutex> lock(mutex_);
  used_[p] = size;
  return p;
}

void DevicePool::release(void* ptr, cudaStream_t stream) noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = used_.find(ptr);
  if (it == used_.end()) return;
  const size_t size = it->second;
  used_.erase(it);
  cudaEvent_t done = nullptr;
  if (!events_.empty())
    done = events_.back(), events_.pop_back();
  else if (cudaEventCreateWithFlags(&done, cudaEventDisableTiming) != cudaSuccess)
    done = nullptr;
  if (done && cudaEventRecord(done, stream) == cudaSuccess) {
    pending_.push_back(Pending{size, ptr, done});
    return;
  }
  // No event: wait for the stream here instead (a release must never hand the block out early).
  cudaGetLastError();
  if (done) events_.push_back(done);
  cudaStreamSynchronize(stream);
  free_.emplace(size, ptr);
  HRSEG_POOL_POISON(ptr, size);
}

void DevicePool::trim() noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& p : pending_) cudaEventSynchronize(p.done);
  reclaim_locked();
  for (cudaEvent_t e : events_) cudaEventDestroy(e);
  events_.clear();
  for (auto& [size, p] : free_) {
    HRSEG_POOL_UNPOISON(p, size);
    cudaFree(p);
  }
  free_.clear();
}

void DevicePool::hold() noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  ++holds_;
}

void DevicePool::unhold() noexcept {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (--holds_ > 0) return;
  }
  trim();
}

size_t DevicePool::cached_bytes() const noexcept {
  std::lock_guard<std::mutex> lock(mutex_);
  size_t n = 0;
  for (auto& [size, p] : free_) n += size;
  for (auto& p : pending_) n += p.size;
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
