#include <chrono>
#include <cstring>

#include "check.h"
#include "hrseg/linear.h"
#include "hrseg/thread_pool.h"
#include "random.h"

using namespace hrseg;

static std::vector<double> reference(const std::vector<float>& x, int64_t rows, const std::vector<float>& w,
                                     const std::vector<float>& b, int64_t out, int64_t in) {
  std::vector<double> y(rows * out);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t o = 0; o < out; ++o) {
      double s = b.empty() ? 0.0 : b[o];
      for (int64_t k = 0; k < in; ++k) s += static_cast<double>(x[r * in + k]) * w[o * in + k];
      y[r * out + o] = s;
    }
  return y;
}

TEST("linear matches a float64 reference at ragged shapes, both kernels") {
  const int64_t shapes[][3] = {{1, 1, 1}, {7, 5, 3}, {6, 16, 256}, {97, 33, 300}, {13, 257, 517}, {200, 64, 1024}, {1, 300, 40}};
  for (bool generic : {false, true}) {
    force_generic_kernel(generic);
    for (auto& s : shapes) {
      const int64_t rows = s[0], out = s[1], in = s[2];
      auto x = check::uniform(rows * in), w = check::uniform(out * in), b = check::uniform(out);
      PackedWeight pw(w.data(), b.data(), out, in);
      std::vector<float> y(rows * out, 12345.0f);  // poisoned: every element must be written
      linear(x.data(), rows, pw, y.data());
      CHECK(check::rel_error(y, reference(x, rows, w, b, out, in)) < 1e-5);
      PackedWeight nb(w.data(), nullptr, out, in);
      linear(x.data(), rows, nb, y.data());
      CHECK(check::rel_error(y, reference(x, rows, w, {}, out, in)) < 1e-5);
    }
  }
  force_generic_kernel(false);
}

TEST("linear gives bit-identical results for any thread count") {
  const int64_t rows = 301, out = 100, in = 700;
  auto x = check::uniform(rows * in), w = check::uniform(out * in);
  PackedWeight pw(w.data(), nullptr, out, in);
  std::vector<float> one(rows * out), many(rows * out);
  set_num_threads(1);
  linear(x.data(), rows, pw, one.data());
  for (int t : {2, 3, 7}) {
    set_num_threads(t);
    linear(x.data(), rows, pw, many.data());
    CHECK(std::memcmp(one.data(), many.data(), one.size() * sizeof(float)) == 0);
  }
  set_num_threads(0);
}

TEST("zero-depth layers give the bias") {
  std::vector<float> b = {1.5f, -2.0f};
  PackedWeight pw(nullptr, b.data(), 2, 0);
  std::vector<float> y(6, 99.0f);
  linear(nullptr, 3, pw, y.data());
  for (int r = 0; r < 3; ++r) {
    CHECK_EQ(y[r * 2], 1.5f);
    CHECK_EQ(y[r * 2 + 1], -2.0f);
  }
}

TEST_MAIN()
