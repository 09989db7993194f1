// CUDA errors become hrseg::Error naming the call, so callers see one error type: out of device
// memory is OutOfMemory (OUT_OF_MEMORY in JavaScript: the caller can retry smaller or on the CPU),
// everything else Internal.
#pragma once
#include <cuda_runtime_api.h>

#include <string>

#include "hrseg/error.h"

namespace hrseg::cuda {

[[noreturn]] inline void fail(cudaError_t e, const char* what) {
  cudaGetLastError();  // clear a non-sticky error so the next call starts clean
  if (e == cudaErrorMemoryAllocation)
    throw Error(ErrorCode::OutOfMemory, std::string("CUDA: ") + what +
                                            ": the GPU is out of memory (free some, or use fewer " +
                                            "proposals, a smaller pointsPerBatch or image, or device 'cpu')");
  throw Error(ErrorCode::Internal, std::string("CUDA: ") + what + ": " + cudaGetErrorString(e));
}

}  // namespace hrseg::cuda

#define HRSEG_CUDA_CHECK(call)                                                       \
  do {                                                                               \
    cudaError_t hrseg_cuda_err_ = (call);                                            \
    if (hrseg_cuda_err_ != cudaSuccess) ::hrseg::cuda::fail(hrseg_cuda_err_, #call); \
  } while (0)

// After a kernel launch: configuration errors show up here, execution errors at the next sync.
#define HRSEG_CUDA_LAUNCHED(name) HRSEG_CUDA_CHECK(cudaGetLastError())
