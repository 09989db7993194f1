// Affine maps composed at load time, in float64, so that a step can skip work the definition
// spells out but does not need. Two identities do it (SPEC allows any form that matches the
// definition to float tolerance):
//  - softmax ignores a term that is the same for every key, so (Wq·x + bq)·(Wk·y + bk) ranks keys
//    like (Wkᵀ·(Wq·x + bq))·y: the query moves into the keys' input space instead of every key
//    being projected;
//  - the weights sum to 1, so Σ p·(Wv·y + bv) = Wv·(Σ p·y) + bv: the values are projected once,
//    after the weighted sum, instead of once per key.
// Matrices are PyTorch-style [out, in], y = W·x + b.
#pragma once
#include <cstdint>
#include <vector>

#include "hrseg/linear.h"

namespace hrseg {

struct Affine64 {
  int64_t out = 0, in = 0;
  std::vector<double> w;  // [out, in]
  std::vector<double> b;  // [out]
};

// From float weights; bias may be null (zero).
Affine64 affine(const float* w, const float* b, int64_t out, int64_t in);
// x ↦ Wᵀ·x (the bias is dropped: the identities above never need it).
Affine64 transposed(const Affine64& a);
// Rows r0 … r1−1 of the map (one attention head's slice of a projection).
Affine64 rows(const Affine64& a, int64_t r0, int64_t r1);
// x ↦ second(first(x)).
Affine64 then(const Affine64& first, const Affine64& second);
// x ↦ s·a(x) (the 1/√d of attention scores, carried by a folded query).
Affine64 scaled(Affine64 a, double s);
// Rounded once to float and packed for linear().
PackedWeight pack(const Affine64& a);

}  // namespace hrseg
