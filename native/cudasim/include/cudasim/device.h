// cudasim: the device side of CUDA C++ as hrseg's kernels use it. A kernel runs as ordinary C++,
// one fiber per CUDA thread (native/cudasim/src/block.cc): __syncthreads really waits for the
// block, warp operations for their lanes, and each is checked (a thread that exits or waits at
// another barrier than the rest of its block, lanes missing from a warp operation) with a message
// naming the kernel, the block and the thread.
#pragma once
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
// One block runs at a time, so a function-local static is one block's shared memory.
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

namespace cudasim::detail {

struct ThreadState;
struct BlockState;
extern thread_local ThreadState* tls_thread;
extern thread_local BlockState* tls_block;

const uint3& thread_index();
const uint3& block_index();
const dim3& block_dim();
const dim3& grid_dim();
void* dynamic_shared();
// This thread's lane in its warp (its linear index in the block, mod 32).
int lane_id();
void syncthreads(const char* file, int line);

enum class WarpOp { Shfl, ShflDown, ShflUp, ShflXor, Sync, Wmma };
// A warp-collective operation: every lane of `mask` must arrive at the same one; returns this
// lane's result (the value it reads, for the shuffles).
uint64_t warp_collective(WarpOp op, unsigned mask, uint64_t value, int arg, int width, const char* file, int line);
// The simulated device's compute capability, major × 10 + minor (90 for the H100, 75 for the T4):
// device code that the real compiler would not build for that architecture faults with it.
int compute_capability();
// A fault in device code: the message names the kernel, block and thread, then the process aborts.
[[noreturn]] void device_fault(const char* op, const char* why);

template <typename T>
inline T shuffle(WarpOp op, const char* file, int line, unsigned mask, T v, int arg, int width) {
  static_assert(std::is_trivially_copyable<T>::value && sizeof(T) <= 8, "shuffles move up to 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &v, sizeof(T));
  bits = warp_collective(op, mask, bits, arg, width, file, line);
  T out;
  std::memcpy(&out, &bits, sizeof(T));
  return out;
}

template <typename T, typename F>
inline T atomic_update(T* p, F f) {
  T old = __atomic_load_n(p, __ATOMIC_RELAXED);
  while (!__atomic_compare_exchange_n(p, &old, f(old), true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  return old;
}
template <typename F>
inline float atomic_update(float* p, F f) {
  uint32_t* bits = reinterpret_cast<uint32_t*>(p);
  uint32_t old = __atomic_load_n(bits, __ATOMIC_RELAXED);
  for (;;) {
    float o, n;
    std::memcpy(&o, &old, 4);
    n = f(o);
    uint32_t nb;
    std::memcpy(&nb, &n, 4);
    if (__atomic_compare_exchange_n(bits, &old, nb, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) return o;
  }
}

}  // namespace cudasim::detail

#define threadIdx (::cudasim::detail::thread_index())
#define blockIdx (::cudasim::detail::block_index())
#define blockDim (::cudasim::detail::block_dim())
#define gridDim (::cudasim::detail::grid_dim())
#define warpSize 32

#define __syncthreads() ::cudasim::detail::syncthreads(__FILE__, __LINE__)
#define __syncwarp(...) ::cudasim::detail::SyncWarpAt{__FILE__, __LINE__}(__VA_ARGS__)
#define __shfl_sync(mask, v, lane, ...)                                                          \
  ::cudasim::detail::shuffle(::cudasim::detail::WarpOp::Shfl, __FILE__, __LINE__, mask, v, lane, \
                             ::cudasim::detail::width_or_32(__VA_ARGS__))
#define __shfl_down_sync(mask, v, delta, ...)                                                         \
  ::cudasim::detail::shuffle(::cudasim::detail::WarpOp::ShflDown, __FILE__, __LINE__, mask, v, delta, \
                             ::cudasim::detail::width_or_32(__VA_ARGS__))
#define __shfl_up_sync(mask, v, delta, ...)                                                         \
  ::cudasim::detail::shuffle(::cudasim::detail::WarpOp::ShflUp, __FILE__, __LINE__, mask, v, delta, \
                             ::cudasim::detail::width_or_32(__VA_ARGS__))
#define __shfl_xor_sync(mask, v, lanemask, ...)                                                         \
  ::cudasim::detail::shuffle(::cudasim::detail::WarpOp::ShflXor, __FILE__, __LINE__, mask, v, lanemask, \
                             ::cudasim::detail::width_or_32(__VA_ARGS__))

namespace cudasim::detail {
inline int width_or_32() { return 32; }
inline int width_or_32(int w) { return w; }
struct SyncWarpAt {
  const char* file;
  int line;
  void operator()(unsigned mask = 0xffffffffu) const { warp_collective(WarpOp::Sync, mask, 0, 0, 32, file, line); }
};
}  // namespace cudasim::detail

// Atomics (relaxed, as CUDA's are; real atomics, so that a race detector sees them as such).
template <typename T>
inline T atomicAdd(T* p, T v) {
  if constexpr (std::is_floating_point<T>::value)
    return cudasim::detail::atomic_update(p, [v](T o) { return o + v; });
  else
    return __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}
template <typename T>
inline T atomicSub(T* p, T v) {
  return __atomic_fetch_sub(p, v, __ATOMIC_RELAXED);
}
template <typename T>
inline T atomicMin(T* p, T v) {
  return cudasim::detail::atomic_update(p, [v](T o) { return v < o ? v : o; });
}
template <typename T>
inline T atomicMax(T* p, T v) {
  return cudasim::detail::atomic_update(p, [v](T o) { return v > o ? v : o; });
}
template <typename T>
inline T atomicExch(T* p, T v) {
  return __atomic_exchange_n(p, v, __ATOMIC_RELAXED);
}
template <typename T>
inline T atomicCAS(T* p, T expected, T desired) {
  __atomic_compare_exchange_n(p, &expected, desired, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
  return expected;
}
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

// Device math as the host's libm (CUDA's expf and friends are within 2 ulp of it, not equal:
// tests compare with tolerances, and claim bit equality only for exact operations).
// Explicitly rounded operations: never contracted (the simulated build compiles without FMA
// contraction, so a·b + c is two roundings here as __fmul_rn/__fadd_rn promise on the device).
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __dadd_rn(double a, double b) { return a + b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fmaf_rn(float a, float b, float c) { return std::fma(a, b, c); }
inline double __fma_rn(double a, double b, double c) { return std::fma(a, b, c); }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
inline int __float2int_rn(float x) { return static_cast<int>(std::nearbyint(x)); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }

// CUDA's overloaded min/max in device code.
#define CUDASIM_MINMAX(T)                          \
  inline T min(T a, T b) { return b < a ? b : a; } \
  inline T max(T a, T b) { return a < b ? b : a; }
CUDASIM_MINMAX(int)
CUDASIM_MINMAX(unsigned)
CUDASIM_MINMAX(long)
CUDASIM_MINMAX(unsigned long)
CUDASIM_MINMAX(long long)
CUDASIM_MINMAX(unsigned long long)
#undef CUDASIM_MINMAX
inline float min(float a, float b) { return std::fmin(a, b); }
inline float max(float a, float b) { return std::fmax(a, b); }
inline double min(double a, double b) { return std::fmin(a, b); }
inline double max(double a, double b) { return std::fmax(a, b); }
