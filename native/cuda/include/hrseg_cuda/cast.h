// Element type conversions at the edge of fp32 kernels. The head's kernels compute in fp32 (their
// reductions need it); a TensorRT plugin with fp16 or bf16 I/O widens its inputs into a workspace,
// runs the fp32 launcher and narrows the results, with these.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

namespace hrseg::cuda {

enum class ElementType : int32_t { Float32 = 0, Float16 = 1, BFloat16 = 2 };

// dst[i] = float(src[i]) for src of `type`.
void widen_to_float(const void* src, ElementType type, int64_t n, float* dst, cudaStream_t stream);

// dst[i] = src[i] rounded to nearest-even in `type`.
void narrow_from_float(const float* src, int64_t n, ElementType type, void* dst, cudaStream_t stream);

// dst[i] = src[i] > 0.5 ? 1 : 0, for a mask carried as floating point (0/1 values).
void threshold_to_mask(const void* src, ElementType type, int64_t n, uint8_t* dst, cudaStream_t stream);

}  // namespace hrseg::cuda
