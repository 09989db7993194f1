#include "hrseg/scratch.h"

#include <algorithm>
#include <iterator>
#include <new>
#include <vector>

namespace hrseg {

namespace {

constexpr size_t kMinCached = 64 << 10;  // below this, malloc's own bins do well
constexpr size_t kMaxCached = 16 << 20;  // per thread: a step's intermediates, not more
constexpr size_t kMaxBlocks = 8;
constexpr std::align_val_t kAlign{64};

struct Block {
  size_t bytes;
  void* p;
};

// Freed blocks of this thread, returned to the system when the thread ends.
struct Cache {
  std::vector<Block> blocks;
  size_t bytes = 0;
  ~Cache() {
    for (const Block& b : blocks) ::operator delete(b.p, kAlign);
  }
};

Cache& cache() {
  thread_local Cache c;
  return c;
}

// Blocks are allocated in 64 KiB steps so that nearby sizes can share them.
size_t rounded(size_t bytes) { return (bytes + kMinCached - 1) / kMinCached * kMinCached; }

}  // namespace

namespace detail {

void* scratch_acquire(size_t bytes) {
  if (bytes < kMinCached) return ::operator new(std::max<size_t>(bytes, 1), kAlign);
  bytes = rounded(bytes);
  Cache& c = cache();
  // A step asks for the same sizes every time: reuse a block of exactly this (rounded) size, the
  // most recently cached first.
  for (auto it = c.blocks.rbegin(); it != c.blocks.rend(); ++it)
    if (it->bytes == bytes) {
      void* p = it->p;
      c.bytes -= bytes;
      c.blocks.erase(std::next(it).base());
      return p;
    }
  return ::operator new(bytes, kAlign);
}

void scratch_release(void* p, size_t bytes) noexcept {
  if (!p) return;
  if (bytes < kMinCached) {
    ::operator delete(p, kAlign);
    return;
  }
  bytes = rounded(bytes);
  Cache& c = cache();
  if (bytes > kMaxCached) {
    ::operator delete(p, kAlign);
    return;
  }
  try {
    c.blocks.push_back(Block{bytes, p});
  } catch (...) {
    ::operator delete(p, kAlign);
    return;
  }
  c.bytes += bytes;
  // Over budget: drop the oldest blocks first (the newest are the likeliest to be asked for again).
  while (c.bytes > kMaxCached || c.blocks.size() > kMaxBlocks) {
    ::operator delete(c.blocks.front().p, kAlign);
    c.bytes -= c.blocks.front().bytes;
    c.blocks.erase(c.blocks.begin());
  }
}

}  // namespace detail

size_t scratch_cached_bytes() noexcept { return cache().bytes; }

}  // namespace hrseg
