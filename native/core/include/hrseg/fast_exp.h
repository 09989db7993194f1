// exp(x) for float, written so that a loop over it vectorises (no calls, no branches): softmax
// over 50 × 1369 attention scores per head was a visible share of the HRE step with libm's
// scalar expf. Cody–Waite range reduction and a degree-6 polynomial; relative error below 3e-7
// for x in [-87, 88]. Below that the result is clamped to exp(-87) ≈ 1.6e-38 (softmax terms that
// small do not change a sum of terms near 1); above, to exp(88); NaN stays NaN. Used by native/core.
#pragma once
#include <cstdint>
#include <cstring>

namespace hrseg {

inline float fast_exp(float in) {
  float x = in > -87.0f ? in : -87.0f;  // NaN lands here too (no undefined conversion below) ...
  x = x < 88.0f ? x : 88.0f;
  // x = n·ln2 + r, |r| <= ln2/2; ln2 split in two so that n·ln2_hi is exact.
  // Round to nearest by adding and removing 1.5·2^23 (exact for |x·log2e| < 2^22): no branch.
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float r = (x - n * 0.693359375f) + n * 2.12194440e-4f;
  // Cephes expf polynomial for e^r.
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  // Scale by 2^n through the exponent bits.
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  // ... and comes back out as NaN, as from expf. Chosen on the bits: a float compare here would
  // keep the compiler from vectorising the loop.
  float e = p * scale;
  uint32_t in_bits, e_bits;
  std::memcpy(&in_bits, &in, sizeof in_bits);
  std::memcpy(&e_bits, &e, sizeof e_bits);
  const uint32_t nan = (in_bits & 0x7fffffffu) > 0x7f800000u ? ~0u : 0u;
  e_bits = (e_bits & ~nan) | (in_bits & nan);
  std::memcpy(&e, &e_bits, sizeof e);
  return e;
}

}  // namespace hrseg
