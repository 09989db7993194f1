// Kernel launches that compile for nvcc and for the simulated GPU (native/cudasim, README "The
// simulated GPU"): HRSEG_LAUNCH(kernel, grid, block, smem, stream)(args...) is
// kernel<<<grid, block, smem, stream>>>(args...) under nvcc. HRSEG_DYNAMIC_SHARED(T, name) declares
// the block's dynamic shared memory as `T* name` / `extern __shared__ T name[]`.
#pragma once

#ifdef HRSEG_CUDASIM
#include "cudasim/launch.h"
#define HRSEG_LAUNCH(kernel, grid, block, smem, stream) ::cudasim::launcher(kernel, #kernel, grid, block, smem, stream)
#define HRSEG_DYNAMIC_SHARED(T, name) T* name = static_cast<T*>(::cudasim::detail::dynamic_shared())
#else
#define HRSEG_LAUNCH(kernel, grid, block, smem, stream) kernel<<<grid, block, smem, stream>>>
#define HRSEG_DYNAMIC_SHARED(T, name) extern __shared__ T name[]
#endif
