#include "hrseg/buffer.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>

namespace hrseg {

namespace {
std::atomic<int64_t> g_live_count{0};
std::atomic<int64_t> g_live_bytes{0};
constexpr size_t kAlign = 64;  // one cache line, and enough for any SIMD load
}  // namespace

Buffer::Buffer(size_t bytes) : size_(bytes) {
  // aligned_alloc needs a size that is a multiple of the alignment; zero-size buffers still
  // get a real allocation so that data() is never null for a live tensor.
  size_t rounded = (bytes + kAlign - 1) / kAlign * kAlign;
  if (rounded == 0) rounded = kAlign;
  data_ = std::aligned_alloc(kAlign, rounded);
  if (!data_) throw std::bad_alloc();
  std::memset(data_, 0, rounded);
  g_live_count.fetch_add(1, std::memory_order_relaxed);
  g_live_bytes.fetch_add(static_cast<int64_t>(size_), std::memory_order_relaxed);
}

Buffer::~Buffer() { release(); }

Buffer::Buffer(Buffer&& other) noexcept : data_(other.data_), size_(other.size_) {
  other.data_ = nullptr;
  other.size_ = 0;
}

Buffer& Buffer::operator=(Buffer&& other) noexcept {
  if (this != &other) {
    release();
    data_ = other.data_;
    size_ = other.size_;
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

void Buffer::release() noexcept {
  if (!data_) return;
  std::free(data_);
  g_live_count.fetch_sub(1, std::memory_order_relaxed);
  g_live_bytes.fetch_sub(static_cast<int64_t>(size_), std::memory_order_relaxed);
  data_ = nullptr;
  size_ = 0;
}

int64_t Buffer::live_count() noexcept { return g_live_count.load(std::memory_order_relaxed); }
int64_t Buffer::live_bytes() noexcept { return g_live_bytes.load(std::memory_order_relaxed); }

}  // namespace hrseg
