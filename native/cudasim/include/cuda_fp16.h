// cudasim: __half with CUDA's conversions (round to nearest even from float; exact to float).
#pragma once
#include <cstdint>
#include <cstring>

namespace cudasim::detail {
// IEEE binary32 → binary16, round to nearest, ties to even; overflow → ±inf, NaN stays NaN.
inline uint16_t float_to_half_bits(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t abs = x & 0x7fffffffu;
  if (abs > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7fffu);   // NaN (CUDA's canonical)
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // ≥ 65520: rounds to inf
  if (abs < 0x38800000u) {                                               // below 2^-14: a subnormal half (or zero)
    if (abs < 0x33000000u) return static_cast<uint16_t>(sign);  // < 2^-25: rounds to 0 (2^-25 is a tie → even 0)
    const uint32_t e = abs >> 23, m = (abs & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - e;  // value = m·2^(e−150); in units of 2^-24: m >> (126 − e)
    uint32_t q = m >> shift;
    const uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1))) ++q;
    return static_cast<uint16_t>(sign | q);
  }
  uint32_t q = ((abs >> 13) - (112u << 10));  // rebias 127 → 15
  const uint32_t rem = abs & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (q & 1))) ++q;  // may carry into the exponent: still right
  return static_cast<uint16_t>(sign | q);
}
inline float half_bits_to_float(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  uint32_t x;
  if (e == 0) {
    if (m == 0)
      x = sign;
    else {  // subnormal: normalise
      int s = 0;
      uint32_t mm = m;
      while (!(mm & 0x400u)) mm <<= 1, ++s;
      x = sign | ((113u - s) << 23) | ((mm & 0x3ffu) << 13);
    }
  } else if (e == 31)
    x = sign | 0x7f800000u | (m << 13);
  else
    x = sign | ((e + 112u) << 23) | (m << 13);
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}
}  // namespace cudasim::detail

struct __half {
  uint16_t __x;
  __half() = default;
  __half(float f) : __x(cudasim::detail::float_to_half_bits(f)) {}
  operator float() const { return cudasim::detail::half_bits_to_float(__x); }
};
static_assert(sizeof(__half) == 2, "__half is 16 bits");
typedef __half half;

inline __half __float2half_rn(float f) { return __half(f); }
inline __half __float2half(float f) { return __half(f); }
inline float __half2float(__half h) { return static_cast<float>(h); }
inline unsigned short __half_as_ushort(__half h) { return h.__x; }
inline __half __ushort_as_half(unsigned short v) {
  __half h;
  h.__x = v;
  return h;
}
