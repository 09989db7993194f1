// Independent float64 references for the 16-bit float formats (IEEE half, bfloat16): decoding by
// ldexp, and the nearest representable value by comparing the two neighbours in double (ties to
// even), for checking conversions on the GPU and on the simulated GPU.
#pragma once
#include <cmath>
#include <cstdint>

namespace check {

struct Format16 {
  int mantissa;  // stored mantissa bits
  int exponent;  // exponent bits
  int bias() const { return (1 << (exponent - 1)) - 1; }
  int emin() const { return 1 - bias(); }
  double max() const { return std::ldexp(2.0 - std::ldexp(1.0, -mantissa), bias()); }
};
constexpr Format16 kHalf{10, 5}, kBFloat16{7, 8};

inline double decode16(uint16_t bits, Format16 f) {
  const int sign = bits >> 15, e = (bits >> f.mantissa) & ((1 << f.exponent) - 1), m = bits & ((1 << f.mantissa) - 1);
  double v;
  if (e == (1 << f.exponent) - 1)
    v = m ? NAN : INFINITY;
  else if (e == 0)
    v = std::ldexp(m, f.emin() - f.mantissa);
  else
    v = std::ldexp(1.0 + std::ldexp(m, -f.mantissa), e - f.bias());
  return sign ? -v : v;
}

// The value float `x` rounds to in `f`, round to nearest, ties to even (±inf past the top).
inline double nearest16(float x, Format16 f) {
  if (std::isnan(x)) return NAN;
  const double a = std::fabs(static_cast<double>(x));
  if (std::isinf(x) || a >= f.max() + std::ldexp(1.0, f.bias() - f.mantissa - 1)) return std::copysign(INFINITY, x);
  const int e = a == 0 ? f.emin() : std::max(f.emin(), std::ilogb(a));
  const double ulp = std::ldexp(1.0, e - f.mantissa);
  const double lo = std::floor(a / ulp) * ulp, hi = lo + ulp;
  const double r = a - lo < hi - a ? lo : a - lo > hi - a ? hi : (std::fmod(lo / ulp, 2.0) == 0 ? lo : hi);
  return std::copysign(r, x);
}

// The bits of the value `x` rounds to in `f` (what a correct float → 16-bit conversion gives).
inline uint16_t to_bits16(float x, Format16 f) {
  const double r = nearest16(x, f);
  const uint16_t sign = std::signbit(r) ? 0x8000 : 0;
  const double a = std::fabs(r);
  if (std::isnan(r)) return static_cast<uint16_t>(0x7fff);
  if (std::isinf(r)) return static_cast<uint16_t>(sign | (((1 << f.exponent) - 1) << f.mantissa));
  if (a == 0) return sign;
  const int e = std::ilogb(a);
  if (e < f.emin()) return static_cast<uint16_t>(sign | static_cast<uint16_t>(std::ldexp(a, f.mantissa - f.emin())));
  const auto m = static_cast<uint16_t>(std::ldexp(a / std::ldexp(1.0, e) - 1.0, f.mantissa));
  return static_cast<uint16_t>(sign | ((e + f.bias()) << f.mantissa) | m);
}

}  // namespace check
