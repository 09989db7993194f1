// The simulated GPU itself (native/cudasim): each CUDA semantic the kernels rely on, and each check
// it makes, on small kernels written here. The faults (a divergent barrier, lanes missing from a
// shuffle, an out-of-bounds access) abort the process as they should, so each runs in a forked
// child whose message is checked: it must name the kernel, the block and the thread.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <mma.h>

#include "check.h"
#include "child_process.h"
#include "half_reference.h"
#include "hrseg_cuda/device_buffer.h"
#include "hrseg_cuda/launch.h"
#include "random.h"

namespace {

using check::has;
using check::in_child;

// --- kernels ---------------------------------------------------------------------------------

__global__ void reverse_in_block(const int* in, int* out) {
  __shared__ int tile[128];
  const int t = threadIdx.x, base = blockIdx.x * blockDim.x;
  tile[t] = in[base + t];
  __syncthreads();  // without it thread t would read tile[127 − t] before its owner wrote it
  out[base + t] = tile[blockDim.x - 1 - t];
}

__global__ void early_exit_then_barrier(int* out) {
  if (threadIdx.x == 5) return;
  __syncthreads();
  out[threadIdx.x] = 1;
}

__global__ void two_barriers(int* out) {
  if (threadIdx.x < 32) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = 1;
}

__global__ void shuffles(const int* in, int* down, int* up, int* xr, int* bcast) {
  const int t = threadIdx.x, v = in[t];
  down[t] = __shfl_down_sync(0xffffffffu, v, 3);
  up[t] = __shfl_up_sync(0xffffffffu, v, 2);
  xr[t] = __shfl_xor_sync(0xffffffffu, v, 5);
  bcast[t] = __shfl_sync(0xffffffffu, v, 7, 16);
}

__global__ void shuffle_missing_lane(int* out) {
  if (threadIdx.x == 31) return;
  out[threadIdx.x] = __shfl_down_sync(0xffffffffu, 1, 1);
}

__global__ void block_sum_atomic(const float* in, int n, float* total, int* count) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
    atomicAdd(total, in[i]);
    atomicAdd(count, 1);
  }
}

__global__ void write_past_end(float* out, int n) {
  out[n + threadIdx.x] = 1.0f;  // one element past the allocation for thread 0
}

__global__ void shared_one_short(int* out) {
  __shared__ int tile[31];
  tile[threadIdx.x] = static_cast<int>(threadIdx.x);  // thread 31 writes past the array
  __syncthreads();
  out[threadIdx.x] = tile[0];
}

__global__ void dynamic_smem(float* out) {
  HRSEG_DYNAMIC_SHARED(float, s);
  s[threadIdx.x] = static_cast<float>(threadIdx.x);
  __syncthreads();
  out[threadIdx.x] = s[blockDim.x - 1 - threadIdx.x];
}

__global__ void coords(unsigned* out) {
  const unsigned b = (blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x + blockIdx.x;
  const unsigned t = (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x + threadIdx.x;
  const unsigned n = blockDim.x * blockDim.y * blockDim.z;
  out[b * n + t] = b * 1000 + t;
}

__global__ void wmma_tile(const __half* a, const __half* b, float* c, int ldm) {
  using namespace nvcuda;
  wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> fa;
  wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> fb;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> fc;
  wmma::fill_fragment(fc, 0.0f);
  wmma::load_matrix_sync(fa, a, ldm);
  wmma::load_matrix_sync(fb, b, ldm);
  wmma::mma_sync(fc, fa, fb, fc);
  wmma::store_matrix_sync(c, fc, 16, wmma::mem_row_major);
}

__global__ void copy_kernel(const float* in, float* out, int n) {
  for (int i = threadIdx.x; i < n; i += blockDim.x) out[i] = in[i];
}

template <typename T>
T* device(size_t n) {
  T* p = nullptr;
  CHECK(cudaMalloc(&p, n * sizeof(T)) == cudaSuccess);
  return p;
}
template <typename T>
std::vector<T> host(const T* d, size_t n) {
  std::vector<T> h(n);
  CHECK(cudaMemcpy(h.data(), d, n * sizeof(T), cudaMemcpyDeviceToHost) == cudaSuccess);
  return h;
}

}  // namespace

TEST("__syncthreads really waits: a block reverses its shared tile, for every block") {
  const int blocks = 3, n = 128 * blocks;
  std::vector<int> in(n);
  for (int i = 0; i < n; ++i) in[i] = i * 7 + 1;
  int *din = device<int>(n), *dout = device<int>(n);
  cudaMemcpy(din, in.data(), n * 4, cudaMemcpyHostToDevice);
  HRSEG_LAUNCH(reverse_in_block, blocks, 128, 0, nullptr)(din, dout);
  auto out = host(dout, n);
  for (int b = 0; b < blocks; ++b)
    for (int t = 0; t < 128; ++t) CHECK_EQ(out[b * 128 + t], in[b * 128 + 127 - t]);
  cudaFree(din), cudaFree(dout);
}

TEST("3-D grids and blocks: every (block, thread) runs once with its own coordinates") {
  const dim3 grid(3, 2, 2), block(4, 3, 2);
  const unsigned n = 12 * 24;
  unsigned* d = device<unsigned>(n);
  HRSEG_LAUNCH(coords, grid, block, 0, nullptr)(d);
  auto out = host(d, n);
  for (unsigned b = 0; b < 12; ++b)
    for (unsigned t = 0; t < 24; ++t) CHECK_EQ(out[b * 24 + t], b * 1000 + t);
  cudaFree(d);
}

TEST("warp shuffles move values as CUDA defines (down, up, xor, indexed with width 16)") {
  std::vector<int> in(32);
  for (int i = 0; i < 32; ++i) in[i] = 100 + i * i;
  int *din = device<int>(32), *d1 = device<int>(32), *d2 = device<int>(32), *d3 = device<int>(32),
      *d4 = device<int>(32);
  cudaMemcpy(din, in.data(), 128, cudaMemcpyHostToDevice);
  HRSEG_LAUNCH(shuffles, 1, 32, 0, nullptr)(din, d1, d2, d3, d4);
  auto down = host(d1, 32), up = host(d2, 32), xr = host(d3, 32), bc = host(d4, 32);
  for (int l = 0; l < 32; ++l) {
    CHECK_EQ(down[l], in[l + 3 < 32 ? l + 3 : l]);
    CHECK_EQ(up[l], in[l >= 2 ? l - 2 : l]);
    CHECK_EQ(xr[l], in[l ^ 5]);
    CHECK_EQ(bc[l], in[(l / 16) * 16 + 7]);
  }
  for (int* p : {din, d1, d2, d3, d4}) cudaFree(p);
}

TEST("atomics are atomic across blocks and threads (float and int)") {
  const int n = 3000;
  std::vector<float> in(n);
  double want = 0;
  for (int i = 0; i < n; ++i) in[i] = static_cast<float>(i % 7), want += in[i];
  float* din = device<float>(n);
  float* total = device<float>(1);
  int* count = device<int>(1);
  cudaMemcpy(din, in.data(), n * 4, cudaMemcpyHostToDevice);
  cudaMemset(total, 0, 4), cudaMemset(count, 0, 4);
  HRSEG_LAUNCH(block_sum_atomic, 5, 64, 0, nullptr)(din, n, total, count);
  CHECK_EQ(host(count, 1)[0], n);
  CHECK_EQ(static_cast<double>(host(total, 1)[0]), want);  // small integers: exact in any order
  cudaFree(din), cudaFree(total), cudaFree(count);
}

TEST(
    "dynamic shared memory: the bytes asked for, per block; over 48 KiB only with the attribute, never over the "
    "device's") {
  float* d = device<float>(64);
  HRSEG_LAUNCH(dynamic_smem, 1, 64, 64 * sizeof(float), nullptr)(d);
  CHECK(cudaGetLastError() == cudaSuccess);
  auto out = host(d, 64);
  for (int t = 0; t < 64; ++t) CHECK_EQ(out[t], static_cast<float>(63 - t));
  HRSEG_LAUNCH(dynamic_smem, 1, 64, 48 * 1024 + 4, nullptr)(d);
  CHECK(cudaGetLastError() == cudaErrorInvalidValue);
  CHECK(cudaFuncSetAttribute(dynamic_smem, cudaFuncAttributeMaxDynamicSharedMemorySize, 64 * 1024) == cudaSuccess);
  HRSEG_LAUNCH(dynamic_smem, 1, 64, 48 * 1024 + 4, nullptr)(d);
  CHECK(cudaGetLastError() == cudaSuccess);
  cudaDeviceProp p{};
  cudaGetDeviceProperties(&p, 0);
  CHECK(cudaFuncSetAttribute(dynamic_smem, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             static_cast<int>(p.sharedMemPerBlockOptin) + 1) == cudaErrorInvalidValue);
  cudaGetLastError();
  cudaDeviceSynchronize();
  cudaFree(d);
}

TEST("launch limits of the simulated H100: threads per block, block and grid dimensions, zero sizes") {
  cudaDeviceProp p{};
  CHECK(cudaGetDeviceProperties(&p, 0) == cudaSuccess);
  CHECK_EQ(p.major, 9);
  CHECK_EQ(p.maxThreadsPerBlock, 1024);
  float* d = device<float>(4);
  HRSEG_LAUNCH(copy_kernel, 1, 1025, 0, nullptr)(d, d, 0);
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  HRSEG_LAUNCH(copy_kernel, 1, dim3(1, 1, 65), 0, nullptr)(d, d, 0);
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  HRSEG_LAUNCH(copy_kernel, dim3(1, 65536), 32, 0, nullptr)(d, d, 0);
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  HRSEG_LAUNCH(copy_kernel, 0, 32, 0, nullptr)(d, d, 0);
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  HRSEG_LAUNCH(copy_kernel, 1, 1024, 0, nullptr)(d, d, 0);
  CHECK(cudaGetLastError() == cudaSuccess);
  // The grid's y limit, asked as CUDA code asks it, and lowered for a test (then restored).
  int y = 0;
  CHECK(cudaDeviceGetAttribute(&y, cudaDevAttrMaxGridDimY, 0) == cudaSuccess);
  CHECK_EQ(y, 65535);
  const int old = cudasim::set_max_grid_y(3);
  CHECK(cudaDeviceGetAttribute(&y, cudaDevAttrMaxGridDimY, 0) == cudaSuccess);
  CHECK_EQ(y, 3);
  HRSEG_LAUNCH(copy_kernel, dim3(1, 4), 32, 0, nullptr)(d, d, 0);
  CHECK(cudaGetLastError() == cudaErrorInvalidConfiguration);
  HRSEG_LAUNCH(copy_kernel, dim3(1, 3), 32, 0, nullptr)(d, d, 0);
  CHECK(cudaGetLastError() == cudaSuccess);
  CHECK_EQ(cudasim::set_max_grid_y(old), 3);
  HRSEG_LAUNCH(copy_kernel, dim3(1, 4), 32, 0, nullptr)(d, d, 0);
  CHECK(cudaGetLastError() == cudaSuccess);
  cudaDeviceSynchronize();
  cudaFree(d);
}

TEST("half and bfloat16 conversions round to nearest even, as CUDA's, on edge cases and random floats") {
  std::vector<float> xs = {0.0f,       -0.0f,         1.0f,          65504.0f,       65519.99f,     65520.0f,
                           1e-8f,      5.9604645e-8f, 2.9802322e-8f, 2.9802326e-8f,  6.1035156e-5f, 6.1035152e-5f,
                           1.0009766f, 1.0004883f,    3.0e38f,       -3.3895314e38f, INFINITY,      -INFINITY};
  for (int i = 0; i < 200000; ++i) {
    uint32_t bits = static_cast<uint32_t>(check::randint(0, 0x7fffffff)) ^ (check::randint(0, 1) ? 0x80000000u : 0);
    float f;
    std::memcpy(&f, &bits, 4);
    if (!std::isnan(f)) xs.push_back(f);
  }
  int bad_h = 0, bad_b = 0;
  for (float f : xs) {
    const double h = __half2float(__float2half_rn(f)), wh = check::nearest16(f, check::kHalf);
    const double b = __bfloat162float(__float2bfloat16_rn(f)), wb = check::nearest16(f, check::kBFloat16);
    if (!(h == wh && std::signbit(h) == std::signbit(wh))) ++bad_h;
    if (!(b == wb && std::signbit(b) == std::signbit(wb))) ++bad_b;
  }
  CHECK_EQ(bad_h, 0);
  CHECK_EQ(bad_b, 0);
  // Every half and bfloat16 decodes exactly.
  for (uint32_t v = 0; v < 65536; ++v) {
    const double wh = check::decode16(static_cast<uint16_t>(v), check::kHalf),
                 wb = check::decode16(static_cast<uint16_t>(v), check::kBFloat16);
    const float h = __half2float(__ushort_as_half(static_cast<unsigned short>(v)));
    __nv_bfloat16 b;
    std::memcpy(&b, &v, 2);
    if (!(std::isnan(wh) ? std::isnan(h) : double(h) == wh)) ++bad_h;
    if (!(std::isnan(wb) ? std::isnan(__bfloat162float(b)) : double(__bfloat162float(b)) == wb)) ++bad_b;
  }
  CHECK_EQ(bad_h, 0);
  CHECK_EQ(bad_b, 0);
  CHECK(std::isnan(__half2float(__float2half_rn(NAN))));
  CHECK(std::isnan(__bfloat162float(__float2bfloat16_rn(NAN))));
}

TEST("wmma: a 16×16×16 tile equals the float64 product; a misaligned pointer or ldm is a fault") {
  std::vector<__half> a(16 * 16), b(16 * 16);
  for (auto& v : a) v = __float2half_rn(static_cast<float>(check::randint(-8, 8)) / 4);
  for (auto& v : b) v = __float2half_rn(static_cast<float>(check::randint(-8, 8)) / 4);
  __half *da = device<__half>(256), *db = device<__half>(256);
  float* dc = device<float>(256);
  cudaMemcpy(da, a.data(), 512, cudaMemcpyHostToDevice), cudaMemcpy(db, b.data(), 512, cudaMemcpyHostToDevice);
  HRSEG_LAUNCH(wmma_tile, 1, 32, 0, nullptr)(da, db, dc, 16);
  auto c = host(dc, 256);
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j) {
      double want = 0;  // b is column-major: B[k][j] at b[j * 16 + k]
      for (int k = 0; k < 16; ++k) want += double(__half2float(a[i * 16 + k])) * __half2float(b[j * 16 + k]);
      CHECK_EQ(static_cast<double>(c[i * 16 + j]), want);  // quarters: exact
    }
  auto o = in_child([&] {
    HRSEG_LAUNCH(wmma_tile, 1, 32, 0, nullptr)(da + 1, db, dc, 16);
    cudaDeviceSynchronize();
  });
  CHECK(o.aborted && has(o.err, "kernel wmma_tile, block (0,0,0), thread (0,0,0)") &&
        has(o.err, "not 256-bit aligned"));
  o = in_child([&] {
    HRSEG_LAUNCH(wmma_tile, 1, 32, 0, nullptr)(da, db, dc, 12);
    cudaDeviceSynchronize();
  });
  CHECK(o.aborted && has(o.err, "ldm is not a multiple of 16 bytes"));
  cudaFree(da), cudaFree(db), cudaFree(dc);
}

TEST("barrier divergence is a fault naming kernel, block and thread: an early exit, two different barriers") {
  int* d = device<int>(64);
  auto o = in_child([&] {
    HRSEG_LAUNCH(early_exit_then_barrier, 2, 64, 0, nullptr)(d);
    cudaDeviceSynchronize();
  });
  CHECK(o.aborted && has(o.err, "kernel early_exit_then_barrier, block (0,0,0), thread (5,0,0)") &&
        has(o.err, "exited while others wait at __syncthreads"));
  o = in_child([&] {
    HRSEG_LAUNCH(two_barriers, 1, 64, 0, nullptr)(d);
    cudaDeviceSynchronize();
  });
  CHECK(o.aborted && has(o.err, "kernel two_barriers, block (0,0,0)") && has(o.err, "barrier divergence"));
  cudaFree(d);
}

TEST("a shuffle whose mask names a lane that has exited is a fault") {
  int* d = device<int>(32);
  auto o = in_child([&] {
    HRSEG_LAUNCH(shuffle_missing_lane, 1, 32, 0, nullptr)(d);
    cudaDeviceSynchronize();
  });
  CHECK(o.aborted && has(o.err, "kernel shuffle_missing_lane, block (0,0,0)") && has(o.err, "__shfl_down_sync") &&
        has(o.err, "lane 31"));
  cudaFree(d);
}

TEST(
    "out of bounds: past a device allocation, past a shared array, after a free: AddressSanitizer names the kernel, "
    "block and thread") {
  auto o = in_child([] {
    float* d = device<float>(64);
    HRSEG_LAUNCH(write_past_end, 1, 1, 0, nullptr)(d, 64);
    cudaDeviceSynchronize();
  });
  CHECK(o.aborted && has(o.err, "heap-buffer-overflow") &&
        has(o.err, "made by kernel write_past_end, block (0,0,0), thread (0,0,0)"));
  o = in_child([] {
    int* d = device<int>(32);
    HRSEG_LAUNCH(shared_one_short, 1, 32, 0, nullptr)(d);
    cudaDeviceSynchronize();
  });
  CHECK(o.aborted && has(o.err, "global-buffer-overflow") &&
        has(o.err, "made by kernel shared_one_short, block (0,0,0), thread (31,0,0)"));
  o = in_child([] {
    float* in = device<float>(16);
    float* out = device<float>(16);
    cudaFree(in);
    HRSEG_LAUNCH(copy_kernel, 1, 16, 0, nullptr)(in, out, 16);
    cudaDeviceSynchronize();
  });
  CHECK(o.aborted && has(o.err, "heap-use-after-free") && has(o.err, "made by kernel copy_kernel"));
}

TEST("copies are checked against their allocations; new device memory reads as NaN (0xFF bytes)") {
  float* d = device<float>(8);
  std::vector<float> h(9, 1.0f);
  CHECK(cudaMemcpy(d, h.data(), 9 * 4, cudaMemcpyHostToDevice) == cudaErrorInvalidValue);
  cudaGetLastError();
  CHECK(cudaMemcpy(h.data(), d, 8 * 4, cudaMemcpyDeviceToHost) == cudaSuccess);
  CHECK(std::isnan(h[0]) && std::isnan(h[7]));
  CHECK(cudaFree(d + 1) == cudaErrorInvalidValue);
  cudaGetLastError();
  cudaFree(d);
}

TEST("streams run out of order unless ordered: without the event the consumer reads stale data, with it the new") {
  const int n = 256;
  float *a = device<float>(n), *b = device<float>(n);
  std::vector<float> ones(n, 1.0f), twos(n, 2.0f);
  cudaMemcpy(a, ones.data(), n * 4, cudaMemcpyHostToDevice);
  cudaStream_t producer, consumer;
  cudaStreamCreateWithFlags(&producer, cudaStreamNonBlocking);
  cudaStreamCreateWithFlags(&consumer, cudaStreamNonBlocking);
  // Unordered: the consumer's copy (newer) runs before the producer's write.
  cudaMemcpyAsync(a, twos.data(), n * 4, cudaMemcpyHostToDevice, producer);
  HRSEG_LAUNCH(copy_kernel, 1, 64, 0, consumer)(a, b, n);
  cudaDeviceSynchronize();
  CHECK_EQ(host(b, n)[0], 1.0f);
  // Ordered by an event: the consumer sees the producer's write.
  cudaEvent_t done;
  cudaEventCreateWithFlags(&done, cudaEventDisableTiming);
  std::vector<float> threes(n, 3.0f);
  cudaMemcpyAsync(a, threes.data(), n * 4, cudaMemcpyHostToDevice, producer);
  cudaEventRecord(done, producer);
  cudaStreamWaitEvent(consumer, done, 0);
  HRSEG_LAUNCH(copy_kernel, 1, 64, 0, consumer)(a, b, n);
  cudaStreamSynchronize(consumer);
  CHECK_EQ(host(b, n)[n - 1], 3.0f);
  // The legacy default stream orders against blocking streams.
  cudaStream_t blocking;
  cudaStreamCreate(&blocking);
  std::vector<float> fours(n, 4.0f);
  cudaMemcpyAsync(a, fours.data(), n * 4, cudaMemcpyHostToDevice, nullptr);
  HRSEG_LAUNCH(copy_kernel, 1, 64, 0, blocking)(a, b, n);
  cudaDeviceSynchronize();
  CHECK_EQ(host(b, n)[0], 4.0f);
  cudaEventDestroy(done);
  for (auto s : {producer, consumer, blocking}) cudaStreamDestroy(s);
  cudaFree(a), cudaFree(b);
}

TEST("the device pool is stream-ordered: a block released under queued work is not handed out until that work ran") {
  hrseg::cuda::DevicePool pool;
  cudaStream_t s;
  cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking);
  std::vector<float> src(1024, 5.0f);
  float* first = nullptr;
  {
    hrseg::cuda::DeviceBuffer<float> in(1024, s, pool), out(1024, s, pool);
    cudaMemcpyAsync(in.get(), src.data(), 4096, cudaMemcpyHostToDevice, s);
    HRSEG_LAUNCH(copy_kernel, 1, 64, 0, s)(in.get(), out.get(), 1024);
    first = in.get();
  }  // both released with the copy still queued
  hrseg::cuda::DeviceBuffer<float> again(1024, nullptr, pool);
  CHECK(again.get() != first);  // the queued kernel still owns the block
  CHECK_EQ(pool.cached_bytes(), size_t(2 * 4096));
  cudaStreamSynchronize(s);
  hrseg::cuda::DeviceBuffer<float> later(1024, nullptr, pool);
  CHECK_EQ(pool.cached_bytes(), size_t(4096));  // one of the two blocks reused, not a new allocation
  again.reset(), later.reset();
  pool.trim();
  CHECK_EQ(pool.cached_bytes(), size_t(0));
  cudaStreamDestroy(s);
}

TEST(
    "running out of device memory: every allocation after k more succeed fails, or the device's memory is what "
    "CUDASIM_DEVICE_MEMORY says") {
  const size_t base = cudasim::device_bytes_in_use();
  void *a = nullptr, *b = nullptr, *c = nullptr;
  CHECK_EQ(cudasim::fail_allocations_after(2), int64_t(-1));
  CHECK(cudaMalloc(&a, 1000) == cudaSuccess);
  CHECK(cudaMalloc(&c, 0) == cudaSuccess);  // nothing allocated: neither counted nor failed
  CHECK(cudaMalloc(&b, 24) == cudaSuccess);
  CHECK_EQ(cudasim::device_bytes_in_use() - base, size_t(1024));
  CHECK(cudaMalloc(&c, 8) == cudaErrorMemoryAllocation);
  CHECK(c == nullptr);
  CHECK(cudaGetLastError() == cudaErrorMemoryAllocation);
  CHECK(cudaMalloc(&c, 8) == cudaErrorMemoryAllocation);  // and every one after it
  CHECK_EQ(cudasim::fail_allocations_after(-1), int64_t(0));
  CHECK(cudaMalloc(&c, 8) == cudaSuccess);
  cudaFree(c), cudaFree(b), cudaFree(a);
  CHECK_EQ(cudasim::device_bytes_in_use(), base);
  // A device of 4 KiB more than is in use: the properties say so, a fifth KiB does not fit.
  setenv("CUDASIM_DEVICE_MEMORY", std::to_string(base + 4096).c_str(), 1);
  cudaDeviceProp p{};
  CHECK(cudaGetDeviceProperties(&p, 0) == cudaSuccess);
  CHECK_EQ(p.totalGlobalMem, base + 4096);
  CHECK(cudaMalloc(&a, 3072) == cudaSuccess);
  CHECK(cudaMalloc(&b, 2048) == cudaErrorMemoryAllocation);
  CHECK(cudaMalloc(&b, 1024) == cudaSuccess);
  setenv("CUDASIM_DEVICE_MEMORY", "-1", 1);  // not a number of bytes: ignored, not 2^64 - 1
  CHECK(cudaGetDeviceProperties(&p, 0) == cudaSuccess);
  CHECK(p.totalGlobalMem < (size_t(1) << 40));
  setenv("CUDASIM_DEVICE_MEMORY", std::to_string(base + 4096).c_str(), 1);
  cudaFree(a);
  CHECK(cudaMalloc(&a, 3072) == cudaSuccess);  // freed memory is free again
  cudaFree(a), cudaFree(b);
  unsetenv("CUDASIM_DEVICE_MEMORY");
  CHECK(cudaGetDeviceProperties(&p, 0) == cudaSuccess);
  CHECK(p.totalGlobalMem > (size_t(79) << 30));  // the H100's 79.6 GiB
  cudaGetLastError();
}

TEST_MAIN()
