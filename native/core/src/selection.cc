#include <algorithm>
#include <numeric>

#include "hrseg/head_ops.h"

namespace hrseg {

namespace {

// Indices sorted by score, highest first; ties keep the lower index first (stable).
std::vector<int64_t> ranked(const float* score, int64_t K) {
  std::vector<int64_t> idx(static_cast<size_t>(K));
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) { return score[a] > score[b]; });
  return idx;
}

}  // namespace

Selection select_proposals(const float* sim, const float* iop, int64_t K, Strategy strategy, int64_t k, float tau,
                           Fallback fallback) {
  Selection s;
  if (K <= 0) return s;
  const int64_t kk = std::min(std::max<int64_t>(k, 1), K);
  switch (strategy) {
    case Strategy::Top1Sim:
      s.chosen = {ranked(sim, K)[0]};
      break;
    case Strategy::Top1Iop:
      s.chosen = {ranked(iop, K)[0]};
      break;
    case Strategy::IopThreshold:
      for (int64_t i = 0; i < K; ++i)
        if (iop[i] > tau) s.chosen.push_back(i);
      break;
    case Strategy::TopkSim: {
      auto r = ranked(sim, K);
      s.chosen.assign(r.begin(), r.begin() + kk);
      break;
    }
    case Strategy::TopkSimIop: {
      auto r = ranked(sim, K);
      for (int64_t i = 0; i < kk; ++i)
        if (iop[r[i]] > tau) s.chosen.push_back(r[i]);
      break;
    }
  }
  if (s.chosen.empty() && fallback == Fallback::Top1Sim) {
    s.chosen = {ranked(sim, K)[0]};
    s.fallback = true;
  }
  std::sort(s.chosen.begin(), s.chosen.end());
  return s;
}

void union_masks(const uint8_t* masks, int64_t H, int64_t W, const std::vector<int64_t>& chosen, uint8_t* out) {
  const int64_t n = H * W;
  std::fill(out, out + n, uint8_t{0});
  for (int64_t k : chosen) {
    const uint8_t* m = masks + k * n;
    for (int64_t i = 0; i < n; ++i) out[i] |= static_cast<uint8_t>(m[i] != 0);
  }
}

}  // namespace hrseg
