// cudasim: running one thread block. Each CUDA thread is a fiber (ucontext) on the calling OS
// thread; the scheduler runs every fiber until it waits (at __syncthreads, a warp operation) or
// exits, then releases what can be released: a warp operation once every lane of its mask has
// reached it, the barrier once every thread of the block has. Anything else is a fault CUDA
// leaves undefined (and compute-sanitizer's synccheck reports): a thread that exits while others
// wait at a barrier, threads at different barriers, lanes missing from a warp operation.
#include <sys/mman.h>
#include <ucontext.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cudasim/device.h"
#include "internal.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define CUDASIM_ASAN 1
#endif
// Racecheck (the ThreadSanitizer build, CUDASIM_RACECHECK): every CUDA thread is a TSan fiber,
// switched to without synchronisation, so only what CUDA orders within a block is ordered
// (__syncthreads, __syncwarp among its lanes, atomics): two threads that touch the same word
// between barriers are a data race report naming both ("kernel K, block (x,y,z), thread (x,y,z)").
// Blocks are chained one after the other (so thread i's TSan fiber is reused from block to block,
// renamed, without hiding anything), as compute-sanitizer's racecheck looks at shared memory
// within a block (a block's __shared__ arrays are the same statics for every block here). This
// file itself is not instrumented: its bookkeeping is not the kernels' memory.
#if defined(CUDASIM_RACECHECK)
#include <sanitizer/tsan_interface.h>
#define CUDASIM_TSAN 1
#endif

namespace cudasim::detail {

enum class Wait { Running, Barrier, Warp, Exited };

struct ThreadState {
  uint3 idx{};
  int linear = 0;
  Wait state = Wait::Running;
  const char* file = nullptr;
  int line = 0;
  WarpOp op = WarpOp::Sync;
  unsigned mask = 0;
  uint64_t value = 0, result = 0;
  int arg = 0, width = 32;
  struct Fiber* fiber = nullptr;
};

struct BlockState {
  const char* kernel = nullptr;
  uint3 idx{};
  dim3 dim, grid;
  const std::function<void()>* body = nullptr;
  void* dynamic_smem = nullptr;
  std::vector<ThreadState> threads;
  ucontext_t sched{};
  // Threads that exited since the last barrier was released (a barrier then is divergence).
  std::vector<int> exited_in_phase;
  // What orders the block's threads for a race detector: its start, its end, its barriers. A
  // barrier's arrivals release into the object of its generation and its departures acquire that
  // one: a thread resumed late must not acquire what others did after the next barrier (they may
  // have run on already, the fibers being sequential), hence two objects, alternating.
  char start_sync = 0, end_sync = 0;
  char barrier_sync[2] = {};
  unsigned barrier_gen = 0;
  char warp_sync[32][2] = {};
  unsigned warp_gen[32] = {};
#ifdef CUDASIM_TSAN
  void* sched_fiber = nullptr;
#endif
};

thread_local ThreadState* tls_thread = nullptr;
thread_local BlockState* tls_block = nullptr;

// A CUDA thread's execution context: a stack and a ucontext, made once and reused from block to
// block (thread i of every block runs on fiber i). Making a context is costly under
// AddressSanitizer, which clears the shadow of its whole stack; and its swapcontext interceptor
// clears the shadow of the stack named in the context it switches to, so that is left empty once
// the context is made (it only matters to makecontext): a resumed thread keeps its frames' red zones.
struct Fiber {
  ucontext_t ctx{};
  ucontext_t* sched = nullptr;  // where the scheduler waits while this fiber runs
  void* stack = nullptr;
#ifdef CUDASIM_TSAN
  void* tsan = nullptr;  // its ThreadSanitizer fiber, renamed for each block it runs
#endif
};

namespace {

constexpr size_t kStack = 256 * 1024;

std::string where(const BlockState& b, const ThreadState* t) {
  char s[256];
  if (t)
    std::snprintf(s, sizeof s, "kernel %s, block (%u,%u,%u), thread (%u,%u,%u)", b.kernel, b.idx.x, b.idx.y, b.idx.z,
                  t->idx.x, t->idx.y, t->idx.z);
  else
    std::snprintf(s, sizeof s, "kernel %s, block (%u,%u,%u)", b.kernel, b.idx.x, b.idx.y, b.idx.z);
  return s;
}

[[noreturn]] void fault(const BlockState& b, const ThreadState* t, const std::string& why) {
  report_fault(where(b, t) + ": " + why);
}

std::string site(const ThreadState& t) { return std::string(t.file ? t.file : "?") + ":" + std::to_string(t.line); }

const char* op_name(WarpOp op) {
  switch (op) {
    case WarpOp::Shfl:
      return "__shfl_sync";
    case WarpOp::ShflDown:
      return "__shfl_down_sync";
    case WarpOp::ShflUp:
      return "__shfl_up_sync";
    case WarpOp::ShflXor:
      return "__shfl_xor_sync";
    case WarpOp::Sync:
      return "__syncwarp";
    case WarpOp::Wmma:
      return "a wmma operation";
  }
  return "?";
}

void fiber_main();

// The fibers of this host thread (mapped once, committed as touched; released when it exits).
// A stack's shadow is cleared when it is mapped and before it is unmapped: this AddressSanitizer
// intercepts neither mmap nor munmap, and a parked fiber's frames leave red zones behind that a
// later mapping at the same address would otherwise inherit.
struct Fibers : std::vector<Fiber*> {
  ~Fibers() {
    for (Fiber* f : *this) {
#ifdef CUDASIM_ASAN
      ASAN_UNPOISON_MEMORY_REGION(f->stack, kStack);
#endif
#ifdef CUDASIM_TSAN
      __tsan_destroy_fiber(f->tsan);
#endif
      munmap(f->stack, kStack);
      delete f;
    }
  }
};
Fibers& fibers() {
  static thread_local Fibers f;
  return f;
}
Fiber* fiber_for(size_t i) {
  auto& f = fibers();
  while (f.size() <= i) {
    auto* fb = new Fiber;
    fb->stack = mmap(nullptr, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (fb->stack == MAP_FAILED) report_fault("cannot map a fiber stack");
#ifdef CUDASIM_ASAN
    ASAN_UNPOISON_MEMORY_REGION(fb->stack, kStack);
#endif
    getcontext(&fb->ctx);
    fb->ctx.uc_stack.ss_sp = fb->stack;
    fb->ctx.uc_stack.ss_size = kStack;
    fb->ctx.uc_link = nullptr;
    makecontext(&fb->ctx, fiber_main, 0);
    fb->ctx.uc_stack = stack_t{};
#ifdef CUDASIM_TSAN
    fb->tsan = __tsan_create_fiber(0);
#endif
    f.push_back(fb);
  }
  return f[i];
}

#ifdef CUDASIM_ASAN
// The scheduler's stack (this host thread's), as AddressSanitizer reports it on a switch.
thread_local const void* tls_sched_stack = nullptr;
thread_local size_t tls_sched_stack_size = 0;
#endif

// Scheduler → fiber and back, told to AddressSanitizer (it tracks one stack per fiber).
void enter(BlockState& b, ThreadState& t) {
  tls_thread = &t;
  t.fiber->sched = &b.sched;
#ifdef CUDASIM_TSAN
  __tsan_switch_to_fiber(t.fiber->tsan, __tsan_switch_to_fiber_no_sync);
#endif
#ifdef CUDASIM_ASAN
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, t.fiber->stack, kStack);
  swapcontext(&b.sched, &t.fiber->ctx);
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#else
  swapcontext(&b.sched, &t.fiber->ctx);
#endif
  tls_thread = nullptr;
}

void leave(ThreadState& t) {
  Fiber& f = *t.fiber;
#ifdef CUDASIM_TSAN
  __tsan_switch_to_fiber(tls_block->sched_fiber, __tsan_switch_to_fiber_no_sync);
#endif
#ifdef CUDASIM_ASAN
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, tls_sched_stack, tls_sched_stack_size);
  swapcontext(&f.ctx, f.sched);
  __sanitizer_finish_switch_fiber(fake, &tls_sched_stack, &tls_sched_stack_size);
#else
  swapcontext(&f.ctx, f.sched);
#endif
}

// Runs the CUDA thread the scheduler entered this fiber for; then waits, exited, to be entered
// again for thread i of the next block.
void fiber_main() {
#ifdef CUDASIM_ASAN
  __sanitizer_finish_switch_fiber(nullptr, &tls_sched_stack, &tls_sched_stack_size);
#endif
  for (;;) {
    ThreadState& t = *tls_thread;
#ifdef CUDASIM_TSAN
    __tsan_acquire(&tls_block->start_sync);  // what the host and the blocks before did
#endif
    (*tls_block->body)();
#ifdef CUDASIM_TSAN
    __tsan_release(&tls_block->end_sync);  // for the host and the blocks after
#endif
    t.state = Wait::Exited;
    tls_block->exited_in_phase.push_back(t.linear);
    leave(t);
  }
}

void wait_here(Wait state, const char* file, int line, void* sync = nullptr) {
  ThreadState* t = tls_thread;
  t->state = state;
  t->file = file;
  t->line = line;
#ifdef CUDASIM_TSAN
  if (sync) __tsan_release(sync);
#endif
  leave(*t);
#ifdef CUDASIM_TSAN
  if (sync) __tsan_acquire(sync);
#else
  (void)sync;
#endif
}

// Every lane of `t`'s mask at the same warp operation: performs it. False when some lane is
// still elsewhere (an error once nothing else can move).
bool try_warp(BlockState& b, int first, int warp_begin, int warp_end) {
  ThreadState& t0 = b.threads[first];
  for (int lane = 0; lane < 32; ++lane) {
    if (!(t0.mask >> lane & 1u)) continue;
    const int i = warp_begin + lane;
    if (i >= warp_end)
      fault(b, &t0,
            std::string(op_name(t0.op)) + " at " + site(t0) + ": the mask names lane " + std::to_string(lane) +
                ", which the block does not have");
    ThreadState& u = b.threads[i];
    if (u.state == Wait::Exited)
      fault(b, &t0,
            std::string(op_name(t0.op)) + " at " + site(t0) + ": lane " + std::to_string(lane) +
                " of its mask has exited");
    if (u.state != Wait::Warp) return false;
    if (u.op != t0.op || u.file != t0.file || u.line != t0.line || u.mask != t0.mask)
      fault(b, &t0,
            std::string("divergent warp: ") + op_name(t0.op) + " at " + site(t0) + " while lane " +
                std::to_string(lane) + " is at " + op_name(u.op) + " at " + site(u) + " (masks " +
                std::to_string(t0.mask) + ", " + std::to_string(u.mask) + ")");
  }
  if (!(t0.mask >> (first - warp_begin) & 1u))
    fault(b, &t0, std::string(op_name(t0.op)) + " at " + site(t0) + ": the calling lane is not in its own mask");
  const int width = t0.width;
  if (width <= 0 || width > 32 || (width & (width - 1)))
    fault(b, &t0, std::string(op_name(t0.op)) + ": width " + std::to_string(width) + " is not a power of two ≤ 32");
  for (int lane = 0; lane < 32; ++lane) {
    if (!(t0.mask >> lane & 1u)) continue;
    ThreadState& u = b.threads[warp_begin + lane];
    const int base = lane & ~(width - 1), pos = lane - base;
    int src = lane;
    switch (u.op) {
      case WarpOp::Shfl:
        src = base + (u.arg % width + width) % width;
        break;
      case WarpOp::ShflDown:
        src = pos + u.arg < width ? lane + u.arg : lane;
        break;
      case WarpOp::ShflUp:
        src = pos >= u.arg ? lane - u.arg : lane;
        break;
      case WarpOp::ShflXor: {
        const int x = lane ^ u.arg;
        src = (x & ~(width - 1)) == base ? x : lane;
        break;
      }
      case WarpOp::Sync:
      case WarpOp::Wmma:
        break;
    }
    if (!(t0.mask >> src & 1u))
      fault(b, &u,
            std::string(op_name(u.op)) + " at " + site(u) + ": reads lane " + std::to_string(src) +
                ", which is not in the mask");
    u.result = b.threads[warp_begin + src].value;
  }
  for (int lane = 0; lane < 32; ++lane)
    if (t0.mask >> lane & 1u) b.threads[warp_begin + lane].state = Wait::Running;
  ++b.warp_gen[warp_begin / 32 % 32];
  return true;
}

bool resolve_warps(BlockState& b) {
  bool progressed = false;
  const int n = static_cast<int>(b.threads.size());
  for (int w = 0; w * 32 < n; ++w) {
    const int begin = w * 32, end = std::min(n, begin + 32);
    for (int i = begin; i < end; ++i)
      if (b.threads[i].state == Wait::Warp && try_warp(b, i, begin, end)) progressed = true;
  }
  return progressed;
}

bool resolve_barrier(BlockState& b) {
  const ThreadState* first = nullptr;
  for (auto& t : b.threads) {
    if (t.state == Wait::Exited) continue;
    if (t.state != Wait::Barrier) return false;
    if (!first)
      first = &t;
    else if (t.file != first->file || t.line != first->line)
      fault(b, &t,
            "barrier divergence: this thread waits at __syncthreads " + site(t) + ", thread (" +
                std::to_string(first->idx.x) + "," + std::to_string(first->idx.y) + "," + std::to_string(first->idx.z) +
                ") at " + site(*first));
  }
  if (!first) return false;
  if (!b.exited_in_phase.empty()) {
    const ThreadState& gone = b.threads[b.exited_in_phase.front()];
    fault(b, &gone,
          "barrier divergence: this thread exited while others wait at __syncthreads " + site(*first) + " (" +
              std::to_string(b.exited_in_phase.size()) + " thread(s) exited)");
  }
  for (auto& t : b.threads)
    if (t.state == Wait::Barrier) t.state = Wait::Running;
  ++b.barrier_gen;
  return true;
}

[[noreturn]] void deadlock(BlockState& b) {
  for (auto& t : b.threads)
    if (t.state == Wait::Warp)
      fault(b, &t,
            std::string("divergence: waits at ") + op_name(t.op) + " " + site(t) +
                " for lanes that are elsewhere (at a barrier or another operation)");
  fault(b, nullptr, "no thread can move (internal)");
}

}  // namespace

void run_block(const char* kernel, uint3 block_idx, dim3 block_dim, dim3 grid_dim, void* dynamic_smem,
               const std::function<void()>& body) {
  // The fibers are this host thread's: a block cannot run inside another (device code never
  // launches).
  if (tls_block) report_fault(std::string("kernel ") + kernel + " launched from inside a running block");
  BlockState b;
#ifdef CUDASIM_TSAN
  b.sched_fiber = __tsan_get_current_fiber();
#endif
  b.kernel = kernel;
  b.idx = block_idx;
  b.dim = block_dim;
  b.grid = grid_dim;
  b.body = &body;
  b.dynamic_smem = dynamic_smem;
  const int n = static_cast<int>(block_dim.x * block_dim.y * block_dim.z);
  b.threads.resize(n);
  b.exited_in_phase.reserve(n);  // fibers push here: never a reallocation (racecheck sees memmove)
  for (int i = 0; i < n; ++i) {
    ThreadState& t = b.threads[i];
    t.linear = i;
    t.idx = uint3{i % block_dim.x, (i / block_dim.x) % block_dim.y, i / (block_dim.x * block_dim.y)};
    t.fiber = fiber_for(i);
#ifdef CUDASIM_TSAN
    const std::string name = where(b, &t);
    __tsan_set_fiber_name(t.fiber->tsan, name.c_str());
#endif
  }
  tls_block = &b;
#ifdef CUDASIM_TSAN
  // Everything the host did so far (the launch's arguments, this block's thread records) happens
  // before the block's threads, which are fibers reused from earlier blocks: they acquire it.
  __tsan_release(&b.start_sync);
#endif
  for (;;) {
    bool live = false;
    for (auto& t : b.threads)
      if (t.state == Wait::Running) enter(b, t);
    for (auto& t : b.threads) live |= t.state != Wait::Exited;
    if (!live) break;
    if (resolve_warps(b)) continue;
    if (resolve_barrier(b)) {
      b.exited_in_phase.clear();
      continue;
    }
    deadlock(b);
  }
  tls_block = nullptr;
#ifdef CUDASIM_TSAN
  __tsan_acquire(&b.end_sync);
#endif
}

const uint3& thread_index() {
  if (!tls_thread) report_fault("threadIdx read outside a kernel");
  return tls_thread->idx;
}
const uint3& block_index() {
  if (!tls_block) report_fault("blockIdx read outside a kernel");
  return tls_block->idx;
}
const dim3& block_dim() {
  if (!tls_block) report_fault("blockDim read outside a kernel");
  return tls_block->dim;
}
const dim3& grid_dim() {
  if (!tls_block) report_fault("gridDim read outside a kernel");
  return tls_block->grid;
}
void* dynamic_shared() {
  if (!tls_block) report_fault("dynamic shared memory outside a kernel");
  return tls_block->dynamic_smem;
}

int lane_id() {
  if (!tls_thread) report_fault("lane id outside a kernel");
  return tls_thread->linear % 32;
}

void syncthreads(const char* file, int line) {
  if (!tls_thread) report_fault("__syncthreads outside a kernel");
  wait_here(Wait::Barrier, file, line, &tls_block->barrier_sync[tls_block->barrier_gen & 1]);
}

uint64_t warp_collective(WarpOp op, unsigned mask, uint64_t value, int arg, int width, const char* file, int line) {
  ThreadState* t = tls_thread;
  if (!t) report_fault(std::string(op_name(op)) + " outside a kernel");
  t->op = op;
  t->mask = mask;
  t->value = value;
  t->arg = arg;
  t->width = width;
  // __syncwarp orders memory among its lanes; shuffles and WMMA operations do not.
  const int w = t->linear / 32 % 32;
  wait_here(Wait::Warp, file, line,
            op == WarpOp::Sync ? &tls_block->warp_sync[w][tls_block->warp_gen[w] & 1] : nullptr);
  return t->result;
}

void device_fault(const char* op, const char* why) {
  if (tls_block) fault(*tls_block, tls_thread, std::string(op) + ": " + why);
  report_fault(std::string(op) + ": " + why);
}

std::string current_location() {
  if (!tls_block) return "";
  return where(*tls_block, tls_thread);
}

}  // namespace cudasim::detail
