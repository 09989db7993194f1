// Dense layers on the GPU: y[rows, out] = x[rows, in] · wᵀ + b, with w stored PyTorch-style
// [out, in]. Plain launchers (no TensorRT or Node types) so the plugins can call them too.
#pragma once
#include <cuda_runtime_api.h>

#include <cstdint>

namespace hrseg::cuda {

enum class Half16 { F16, BF16 };

// fp32 everywhere (SIMT, 64×64 tiles). `relu` applies max(0, ·) after the bias.
void gemm_f32(const float* x, int64_t rows, int64_t in, const float* w, const float* bias, int64_t out, float* y,
              bool relu, cudaStream_t stream);

// Tensor cores: x and w in fp16 or bf16, accumulation and y in fp32. Any shape (edges are padded
// with zeros in shared memory, not in the caller's arrays). bf16 on a device before sm_80 (Turing,
// which has no bf16 tensor cores) runs on the SIMT kernel instead, with the same fp32 sums.
void gemm_tc(const void* x, int64_t rows, int64_t in, const void* w, const float* bias, int64_t out, float* y,
             Half16 type, bool relu, cudaStream_t stream);

// fp32 → fp16/bf16 (round to nearest even), n elements.
void to_half16(const float* src, void* dst, int64_t n, Half16 type, cudaStream_t stream);

}  // namespace hrseg::cuda
