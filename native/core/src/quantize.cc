#include "hrseg/quantize.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "hrseg/error.h"
#include "hrseg/thread_pool.h"

namespace hrseg {

namespace {

// x + 1.5·2^52 − 1.5·2^52 rounds a double to the nearest integer, ties to even, as the JS
// reference and numpy round (|x| ≤ qmax / 0.7 here, far inside the trick's 2^51).
inline double round_even(double x) {
  constexpr double k = 6755399441055744.0;
  return (x + k) - k;  // kept as written: the core builds without -ffast-math
}

void put(uint8_t* packed, int64_t k, int bits, int v) {
  if (bits == 8)
    packed[k] = static_cast<uint8_t>(v & 0xff);
  else
    packed[k >> 1] |= static_cast<uint8_t>((v & 0xf) << ((k & 1) * 4));
}

}  // namespace

void quantize_blockwise(const float* w, int64_t out, int64_t in, const BlockQuantOptions& o, uint8_t* codes,
                        float* scales, uint8_t* zero_points) {
  if (o.bits != 4 && o.bits != 8)
    throw Error(ErrorCode::InvalidArgument, "quantize: bits must be 4 or 8, got " + std::to_string(o.bits));
  const int64_t B = o.block;
  if (B < 2 || in % B != 0)
    throw Error(ErrorCode::InvalidArgument, "quantize: block size " + std::to_string(B) +
                                                " does not divide the input dimension " + std::to_string(in));
  if (o.asymmetric && !zero_points) throw Error(ErrorCode::Internal, "quantize: asymmetric needs zero points");
  const int64_t nb = in / B;
  const double qmax = o.asymmetric ? (1 << o.bits) - 1 : (1 << (o.bits - 1)) - 1;
  const double lo = o.asymmetric ? 0 : -(1 << (o.bits - 1));
  const int ratios = o.clip_search ? static_cast<int>(std::size(kClipRatios)) : 1;
  // Pass 1, over output rows: codes [out, in] one per byte, scales and zero points.
  std::vector<int8_t> rowCodes(static_cast<size_t>(out * in));
  std::vector<uint8_t> zps(o.asymmetric ? static_cast<size_t>(nb * out) : 0);
  parallel_for(0, out, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t b = 0; b < nb; ++b) {
        const float* x = w + r * in + b * B;
        double mn = std::numeric_limits<double>::infinity(), mx = -mn;
        for (int64_t i = 0; i < B; ++i) mn = std::min<double>(mn, x[i]), mx = std::max<double>(mx, x[i]);
        if (o.asymmetric) mn = std::min(mn, 0.0), mx = std::max(mx, 0.0);
        double best_s = 1, best_z = 0, best_err = std::numeric_limits<double>::infinity();
        for (int k = 0; k < ratios; ++k) {
          const double ratio = kClipRatios[k];
          double s = o.asymmetric ? static_cast<float>(((mx - mn) * ratio) / qmax)
                                  : static_cast<float>((std::max(std::fabs(mn), std::fabs(mx)) * ratio) / qmax);
          if (s == 0 || std::isnan(s)) s = 1;  // an all-zero block (the JS `|| 1`)
          const double z = o.asymmetric ? std::min(qmax, std::max(0.0, round_even((-mn * ratio) / s))) : 0;
          double err = 0;
          for (int64_t i = 0; i < B; ++i) {
            const double q = std::clamp(round_even(x[i] / s) + z, lo, qmax);
            const double d = (q - z) * s - x[i];
            err += d * d;
          }
          if (err < best_err) best_err = err, best_s = s, best_z = z;
        }
        scales[b * out + r] = static_cast<float>(best_s);
        if (o.asymmetric) zps[static_cast<size_t>(b * out + r)] = static_cast<uint8_t>(best_z);
        int8_t* c = rowCodes.data() + r * in + b * B;
        for (int64_t i = 0; i < B; ++i)
          c[i] = static_cast<int8_t>(static_cast<int>(std::clamp(round_even(x[i] / best_s) + best_z, lo, qmax)));
      }
  });
  // Pass 2, over input rows in tiles: the transpose, packed. Two rows share a byte when `out` is
  // odd at 4 bits, so then one chunk does it all.
  const int64_t grain = (o.bits == 4 && out % 2) ? in : 64;
  parallel_for(0, in, grain, [&](int64_t i0, int64_t i1) {
    constexpr int64_t T = 64;
    for (int64_t c0 = 0; c0 < out; c0 += T)
      for (int64_t i = i0; i < i1; ++i)
        for (int64_t c = c0; c < std::min(out, c0 + T); ++c)
          put(codes, i * out + c, o.bits, rowCodes[static_cast<size_t>(c * in + i)]);
  });
  if (o.asymmetric)
    for (int64_t k = 0; k < nb * out; ++k) put(zero_points, k, o.bits, zps[static_cast<size_t>(k)]);
}

}  // namespace hrseg
