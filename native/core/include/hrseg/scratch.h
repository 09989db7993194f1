// Scratch arrays for a step's intermediates: written in full before they are read, so never
// zero-filled, and, from 64 KiB up, recycled through a small per-thread cache. Without the cache
// every image step maps its MiB-sized intermediates afresh and pays a page fault per 4 KiB on
// first touch; with it, a step reuses the pages the previous step faulted in.
#pragma once
#include <cstddef>
#include <memory>
#include <type_traits>

namespace hrseg {

namespace detail {
void* scratch_acquire(size_t bytes);
void scratch_release(void* p, size_t bytes) noexcept;
}  // namespace detail

template <typename T>
class Scratch {
  static_assert(std::is_trivial<T>::value, "scratch holds plain numbers");

 public:
  explicit Scratch(size_t n) : n_(n), p_(static_cast<T*>(detail::scratch_acquire(n * sizeof(T)))) {}
  ~Scratch() { detail::scratch_release(p_, n_ * sizeof(T)); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  T* get() noexcept { return p_; }
  const T* get() const noexcept { return p_; }
  T& operator[](size_t i) noexcept { return p_[i]; }
  const T& operator[](size_t i) const noexcept { return p_[i]; }
  size_t size() const noexcept { return n_; }

 private:
  size_t n_;
  T* p_;
};

template <typename T>
Scratch<T> scratch(size_t n) {
  return Scratch<T>(n);  // guaranteed elision (C++17): no copy of the handle
}

// Bytes this thread's cache holds now (for tests and diagnostics).
size_t scratch_cached_bytes() noexcept;

}  // namespace hrseg
