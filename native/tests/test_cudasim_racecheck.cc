// The simulated GPU's racecheck (the ThreadSanitizer build of native/cudasim): a kernel that reads
// a shared tile before its owner wrote it is a data race report naming the kernel, the block, both
// threads and the shared array; with the barrier it is not; warps are ordered by __syncwarp only.
#include <string>
#include <vector>

#include <cuda_runtime.h>

#include "check.h"
#include "child_process.h"
#include "hrseg_cuda/launch.h"

namespace {

template <bool kBarrier>
__global__ void reverse_tile(const int* in, int* out) {
  __shared__ int tile[64];
  tile[threadIdx.x] = in[threadIdx.x];
  if (kBarrier) __syncthreads();
  out[threadIdx.x] = tile[blockDim.x - 1 - threadIdx.x];
}

template <bool kSyncWarp>
__global__ void warp_exchange(int* out) {
  __shared__ int slot[32];
  slot[threadIdx.x] = static_cast<int>(threadIdx.x) * 3;
  if (kSyncWarp) __syncwarp();
  out[threadIdx.x] = slot[31 - threadIdx.x];
}

template <typename K>
void run(K kernel, int threads) {
  std::vector<int> in(threads, 7);
  int *din = nullptr, *dout = nullptr;
  cudaMalloc(&din, threads * 4), cudaMalloc(&dout, threads * 4);
  cudaMemcpy(din, in.data(), threads * 4, cudaMemcpyHostToDevice);
  kernel(din, dout);
  cudaDeviceSynchronize();
  cudaFree(din), cudaFree(dout);
}

}  // namespace

TEST(
    "a shared tile read before the barrier is a race naming kernel, block, threads and array; with __syncthreads it is "
    "none") {
  auto racy = check::in_child(
      [] { run([](const int* i, int* o) { HRSEG_LAUNCH(reverse_tile<false>, 1, 64, 0, nullptr)(i, o); }, 64); });
  CHECK(racy.aborted && check::has(racy.err, "ThreadSanitizer: data race") &&
        check::has(racy.err, "kernel reverse_tile<false>, block (0,0,0), thread (") && check::has(racy.err, "tile"));
  auto clean = check::in_child(
      [] { run([](const int* i, int* o) { HRSEG_LAUNCH(reverse_tile<true>, 1, 64, 0, nullptr)(i, o); }, 64); });
  CHECK(!clean.aborted && clean.err.find("data race") == std::string::npos);
}

TEST("lanes exchanging through shared memory race without __syncwarp, not with it") {
  auto racy = check::in_child(
      [] { run([](const int*, int* o) { HRSEG_LAUNCH(warp_exchange<false>, 1, 32, 0, nullptr)(o); }, 32); });
  CHECK(racy.aborted && check::has(racy.err, "kernel warp_exchange<false>, block (0,0,0)"));
  auto clean = check::in_child(
      [] { run([](const int*, int* o) { HRSEG_LAUNCH(warp_exchange<true>, 1, 32, 0, nullptr)(o); }, 32); });
  CHECK(!clean.aborted && clean.err.find("data race") == std::string::npos);
}

TEST_MAIN()
