// Seeded random data for native tests; the seed is printed so a failure can be replayed
// (HRSEG_TEST_SEED=<n>).
#pragma once
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

namespace check {

inline uint64_t test_seed() {
  static const uint64_t seed = [] {
    const char* env = std::getenv("HRSEG_TEST_SEED");
    uint64_t s = env ? std::strtoull(env, nullptr, 10) : std::random_device{}();
    std::printf("seed %llu (HRSEG_TEST_SEED to replay)\n", static_cast<unsigned long long>(s));
    return s;
  }();
  return seed;
}

inline std::mt19937_64& rng() {
  static std::mt19937_64 g(test_seed());
  return g;
}

inline std::vector<float> uniform(size_t n, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng());
  return v;
}

inline int64_t randint(int64_t lo, int64_t hi) {  // inclusive
  return std::uniform_int_distribution<int64_t>(lo, hi)(rng());
}

// max |a-b| / max(1, max|b|): relative to the reference's scale.
template <typename A, typename B>
double rel_error(const A& a, const B& b) {
  double err = 0, scale = 1;
  for (size_t i = 0; i < b.size(); ++i) scale = std::max(scale, std::abs(static_cast<double>(b[i])));
  for (size_t i = 0; i < b.size(); ++i)
    err = std::max(err, std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
  return err / scale;
}

}  // namespace check
