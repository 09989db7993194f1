// Owned, 64-byte aligned native memory. Every live Buffer is counted so that tests can prove
// that memory handed to JavaScript is released once the JS object is collected.
#pragma once
#include <cstddef>
#include <cstdint>

namespace hrseg {

class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(size_t bytes);  // zero-filled
  ~Buffer();
  Buffer(Buffer&& other) noexcept;
  Buffer& operator=(Buffer&& other) noexcept;
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  void* data() noexcept { return data_; }
  const void* data() const noexcept { return data_; }
  size_t size() const noexcept { return size_; }
  template <typename T>
  T* as() noexcept {
    return static_cast<T*>(data_);
  }
  template <typename T>
  const T* as() const noexcept {
    return static_cast<const T*>(data_);
  }

  // Number of Buffers currently holding memory, process-wide.
  static int64_t live_count() noexcept;
  static int64_t live_bytes() noexcept;

 private:
  void release() noexcept;
  void* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace hrseg
