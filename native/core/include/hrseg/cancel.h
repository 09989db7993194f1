// Cooperative cancellation: long operations poll a CancelToken between chunks of work,
// because a native thread cannot be interrupted safely from outside.
#pragma once
#include <atomic>
#include <memory>

namespace hrseg {

class CancelToken {
 public:
  void cancel() noexcept { cancelled_.store(true, std::memory_order_relaxed); }
  bool cancelled() const noexcept { return cancelled_.load(std::memory_order_relaxed); }
  // Throws Error(Aborted) when cancelled; call between units of work.
  void check() const;

 private:
  std::atomic<bool> cancelled_{false};
};

using CancelTokenPtr = std::shared_ptr<CancelToken>;

// Null-safe helper for code paths where cancellation is optional.
inline void check_cancel(const CancelToken* token) {
  if (token) token->check();
}

}  // namespace hrseg
