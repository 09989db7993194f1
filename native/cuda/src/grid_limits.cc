#include "hrseg_cuda/grid_limits.h"

#include <cuda_runtime_api.h>

#include "hrseg_cuda/check.h"

namespace hrseg::cuda {

int64_t max_grid_y() {
  int device = 0, limit = 0;
  HRSEG_CUDA_CHECK(cudaGetDevice(&device));
  HRSEG_CUDA_CHECK(cudaDeviceGetAttribute(&limit, cudaDevAttrMaxGridDimY, device));
  return limit;
}

}  // namespace hrseg::cuda
