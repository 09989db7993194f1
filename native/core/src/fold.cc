#include "hrseg/fold.h"

#include "hrseg/error.h"
#include "hrseg/thread_pool.h"

namespace hrseg {

Affine64 affine(const float* w, const float* b, int64_t out, int64_t in) {
  Affine64 a;
  a.out = out, a.in = in;
  a.w.assign(w, w + out * in);
  a.b.assign(static_cast<size_t>(out), 0.0);
  if (b) a.b.assign(b, b + out);
  return a;
}

Affine64 transposed(const Affine64& a) {
  Affine64 t;
  t.out = a.in, t.in = a.out;
  t.w.resize(a.w.size());
  for (int64_t o = 0; o < a.out; ++o)
    for (int64_t i = 0; i < a.in; ++i) t.w[i * a.out + o] = a.w[o * a.in + i];
  t.b.assign(static_cast<size_t>(t.out), 0.0);
  return t;
}

Affine64 rows(const Affine64& a, int64_t r0, int64_t r1) {
  if (r0 < 0 || r1 > a.out || r0 > r1) fail(ErrorCode::Internal, "fold: row range out of bounds");
  Affine64 s;
  s.out = r1 - r0, s.in = a.in;
  s.w.assign(a.w.begin() + r0 * a.in, a.w.begin() + r1 * a.in);
  s.b.assign(a.b.begin() + r0, a.b.begin() + r1);
  return s;
}

Affine64 then(const Affine64& first, const Affine64& second) {
  if (second.in != first.out) fail(ErrorCode::Internal, "fold: composing maps of mismatched widths");
  Affine64 c;
  c.out = second.out, c.in = first.in;
  c.w.assign(static_cast<size_t>(c.out * c.in), 0.0);
  c.b = second.b;
  // W = W2·W1, b = W2·b1 + b2; rows of the result are independent, so split them over the pool.
  parallel_for(0, c.out, 16, [&](int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o) {
      double* row = c.w.data() + o * c.in;
      const double* w2 = second.w.data() + o * second.in;
      for (int64_t k = 0; k < second.in; ++k) {
        const double s = w2[k];
        if (s == 0) continue;
        const double* w1 = first.w.data() + k * first.in;
        for (int64_t i = 0; i < c.in; ++i) row[i] += s * w1[i];
        c.b[o] += s * first.b[k];
      }
    }
  });
  return c;
}

Affine64 scaled(Affine64 a, double s) {
  for (double& x : a.w) x *= s;
  for (double& x : a.b) x *= s;
  return a;
}

PackedWeight pack(const Affine64& a) {
  std::vector<float> w(a.w.begin(), a.w.end()), b(a.b.begin(), a.b.end());
  return PackedWeight(w.data(), b.data(), a.out, a.in);
}

}  // namespace hrseg
