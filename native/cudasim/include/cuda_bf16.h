// cudasim: __nv_bfloat16 with CUDA's conversions (round to nearest even from float; exact to float).
#pragma once
#include <cstdint>
#include <cstring>

namespace cudasim::detail {
inline uint16_t float_to_bf16_bits(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return 0x7fffu;  // NaN → CUDA's canonical NaN
  x += 0x7fffu + ((x >> 16) & 1u);                      // ties to even (overflow rounds to inf, as it should)
  return static_cast<uint16_t>(x >> 16);
}
inline float bf16_bits_to_float(uint16_t b) {
  const uint32_t x = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}
}  // namespace cudasim::detail

struct __nv_bfloat16 {
  uint16_t __x;
  __nv_bfloat16() = default;
  __nv_bfloat16(float f) : __x(cudasim::detail::float_to_bf16_bits(f)) {}
  operator float() const { return cudasim::detail::bf16_bits_to_float(__x); }
};
static_assert(sizeof(__nv_bfloat16) == 2, "__nv_bfloat16 is 16 bits");

inline __nv_bfloat16 __float2bfloat16_rn(float f) { return __nv_bfloat16(f); }
inline __nv_bfloat16 __float2bfloat16(float f) { return __nv_bfloat16(f); }
inline float __bfloat162float(__nv_bfloat16 b) { return static_cast<float>(b); }
