#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "check.h"
#include "../core/src/linear_kernels.h"
#include "hrseg/cpu_peaks.h"
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
  const int64_t shapes[][3] = {{1, 1, 1},      {7, 5, 3},       {6, 16, 256}, {97, 33, 300},
                               {13, 257, 517}, {200, 64, 1024}, {1, 300, 40}};
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

#if defined(__aarch64__)
// The tests above compare "both kernels" with the float64 reference; on aarch64 the first must be
// the NEON one (linear_kernels_neon.cc), or they would test the generic kernel twice.
TEST("aarch64 uses the NEON kernel unless the generic one is forced") {
  CHECK(std::string(linear_kernel_name()) == "neon");
  force_generic_kernel(true);
  CHECK(std::string(linear_kernel_name()) == "generic");
  force_generic_kernel(false);
}
#endif

#if defined(__x86_64__)
// On x86-64 the first of "both kernels" is the widest the CPU has (or HRSEG_CPU_ISA allows): this
// test runs again capped at AVX2 (ctest test_linear_avx2), so both vector paths meet the reference.
TEST("x86-64 uses the AVX-512 kernel where the CPU has it, else AVX2 + FMA") {
  const auto& f = cpu_features();
  const std::string want = f.avx512 ? "avx512" : f.avx2_fma ? "avx2-fma" : "generic";
  CHECK(std::string(linear_kernel_name()) == want);
  std::printf("  kernel: %s (cpu: %s)\n", linear_kernel_name(), cpu_feature_names().c_str());
}

TEST("the AVX-512 kernels give exactly the AVX2 kernels' results (tiles, rows; f32, bf16, f16 panels)") {
  if (!cpu_features().avx512) SKIP("no AVX-512 on this CPU (or HRSEG_CPU_ISA caps it)");
  for (int64_t kc : {1, 3, 4, 7, 256}) {
    for (int rows = 1; rows <= kernels::kMR; ++rows) {
      for (int cols : {1, 9, 16}) {
        for (bool accumulate : {false, true}) {
          const int64_t lda = kc + 3, ldc = 21;
          auto a = check::uniform(kernels::kMR * lda), b = check::uniform(kc * kernels::kNR);
          auto c0 = check::uniform(kernels::kMR * ldc);
          auto c1 = c0;
          kernels::micro_avx2(a.data(), lda, b.data(), kc, c0.data(), ldc, rows, cols, accumulate);
          kernels::micro_avx512(a.data(), lda, b.data(), kc, c1.data(), ldc, rows, cols, accumulate);
          CHECK(std::memcmp(c0.data(), c1.data(), c0.size() * sizeof(float)) == 0);
          auto r0 = check::uniform(kernels::kNR), r1 = r0;
          kernels::row_avx2(a.data(), b.data(), kc, r0.data(), cols, accumulate);
          kernels::row_avx512(a.data(), b.data(), kc, r1.data(), cols, accumulate);
          CHECK(std::memcmp(r0.data(), r1.data(), r0.size() * sizeof(float)) == 0);
          std::vector<uint16_t> half(kc * kernels::kNR);
          for (size_t i = 0; i < half.size(); ++i)
            half[i] = static_cast<uint16_t>(0x3c00 + (i * 37) % 0x0400);  // f16 and bf16 values near 1
          for (bool bf16 : {false, true}) {
            auto h0 = check::uniform(kernels::kNR), h1 = h0;
            kernels::row_half_avx2(a.data(), half.data(), bf16, kc, h0.data(), cols, accumulate);
            kernels::row_half_avx512(a.data(), half.data(), bf16, kc, h1.data(), cols, accumulate);
            CHECK(std::memcmp(h0.data(), h1.data(), h0.size() * sizeof(float)) == 0);
          }
        }
      }
    }
  }
}
#endif

TEST("16-bit weights (BF16, F16, read unaligned) give exactly the products of their widened values") {
  const int64_t shapes[][3] = {{1, 1, 1}, {1, 300, 520}, {7, 17, 3}, {130, 40, 300}};
  for (bool generic : {false, true}) {
    force_generic_kernel(generic);
    for (DType dtype : {DType::BF16, DType::F16}) {
      for (auto& s : shapes) {
        const int64_t rows = s[0], out = s[1], in = s[2], n = out * in;
        // Random bit patterns: bf16 from random floats, f16 finite (exponent below 31).
        std::vector<uint16_t> bits(n);
        std::vector<float> wide(n);
        const auto u = check::uniform(n), v = check::uniform(n, 0.0f, 1.0f);
        for (int64_t i = 0; i < n; ++i) {
          if (dtype == DType::BF16) {
            uint32_t f;
            std::memcpy(&f, &u[i], 4);
            bits[i] = static_cast<uint16_t>(f >> 16);
            wide[i] = bf16_bits_to_float(bits[i]);
          } else {
            const uint16_t exponent = static_cast<uint16_t>(v[i] * 30.99f),
                           mantissa = static_cast<uint16_t>(check::randint(0, 1023));
            bits[i] = static_cast<uint16_t>((u[i] < 0 ? 0x8000 : 0) | (exponent << 10) | mantissa);
            wide[i] = f16_bits_to_float(bits[i]);
          }
        }
        std::vector<uint8_t> file(2 * n + 1);  // one byte in: the stored tensor is not 2-byte aligned
        std::memcpy(file.data() + 1, bits.data(), 2 * n);
        auto x = check::uniform(rows * in), b = check::uniform(out);
        const PackedWeight half = PackedWeight::from_stored(file.data() + 1, dtype, b.data(), out, in);
        const PackedWeight full(wide.data(), b.data(), out, in);
        CHECK(half.out() == out && half.in() == in);
        CHECK(half.at(out - 1, in - 1) == wide[n - 1] && half.at(0, 0) == wide[0]);
        std::vector<float> y16(rows * out, 1.0f), y32(rows * out, 2.0f);
        linear(x.data(), rows, half, y16.data());
        linear(x.data(), rows, full, y32.data());
        CHECK(std::memcmp(y16.data(), y32.data(), y16.size() * sizeof(float)) == 0);
        // Stacking reads 16-bit panels too.
        const PackedWeight st = PackedWeight::stack(half, full);
        CHECK(st.out() == 2 * out && st.at(out, 0) == wide[0] && st.at(out - 1, 0) == wide[(out - 1) * in]);
      }
    }
  }
  force_generic_kernel(false);
  // F32 from unaligned bytes too.
  const int64_t out = 5, in = 9;
  auto w = check::uniform(out * in), x = check::uniform(3 * in);
  std::vector<uint8_t> file(4 * out * in + 3);
  std::memcpy(file.data() + 3, w.data(), 4 * out * in);
  std::vector<float> a(3 * out), c(3 * out);
  linear(x.data(), 3, PackedWeight::from_stored(file.data() + 3, DType::F32, nullptr, out, in), a.data());
  linear(x.data(), 3, PackedWeight(w.data(), nullptr, out, in), c.data());
  CHECK(std::memcmp(a.data(), c.data(), a.size() * sizeof(float)) == 0);
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
