// CUDA errors become hrseg::Error(Internal) naming the call, so callers see one error type.
#pragma once
#include <cuda_runtime_api.h>

#include <string>

#include "hrseg/error.h"

namespace hrseg::cuda {

[[noreturn]] inline void fail(cudaError_t e, const char* what) {
  cudaGetLastError();  // clear a non-sticky error so the next call starts clean
  throw Error(ErrorCode::Internal, std::string("CUDA: ") + what + ": " + cudaGetErrorString(e));
}

}  // namespace hrseg::cuda

#define HRSEG_CUDA_CHECK(call)                                   \
  do {                                                           \
    cudaError_t hrseg_cuda_err_ = (call);                        \
    if (hrseg_cuda_err_ != cudaSuccess) ::hrseg::cuda::fail(hrseg_cuda_err_, #call); \
  } while (0)

// After a kernel launch: configuration errors show up here, execution errors at the next sync.
#define HRSEG_CUDA_LAUNCHED(name) HRSEG_CUDA_CHECK(cudaGetLastError())
