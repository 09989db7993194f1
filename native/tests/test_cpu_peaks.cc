// The peak loops do the work they are counted for (an exact result from a scalar recurrence of
// the same arithmetic), and cpu_features() agrees with the compiler's own CPU checks.
#include <cmath>
#include <cstdlib>
#include <string>

#include "../core/src/cpu_peaks_kernels.h"
#include "../core/src/linear_kernels.h"
#include "check.h"
#include "hrseg/cpu_peaks.h"

using hrseg::cpu_features;

#if defined(__x86_64__)
TEST("cpu_features() agrees with the compiler's own CPU checks") {
  const auto& f = cpu_features();
  if (const char* isa = std::getenv("HRSEG_CPU_ISA"); isa && *isa) {
    // Capped: nothing above the cap may show, whatever the CPU has.
    CHECK(!f.avx512 && !f.avx512_bf16 && !f.avx512_vnni && !f.amx_bf16 && !f.amx_int8);
    if (std::string(isa) == "generic") CHECK(!f.avx2_fma);
    std::printf("  capped by HRSEG_CPU_ISA=%s: %s\n", isa, hrseg::cpu_feature_names().c_str());
    return;
  }
  __builtin_cpu_init();
  CHECK_EQ(f.avx2_fma, __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"));
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
  CHECK_EQ(f.avx512, avx512);
  CHECK_EQ(f.avx512_vnni, avx512 && __builtin_cpu_supports("avx512vnni"));
  CHECK_EQ(f.avx512_bf16, avx512 && __builtin_cpu_supports("avx512bf16"));
  CHECK(!f.neon);
  std::printf("  this CPU: %s\n", hrseg::cpu_feature_names().c_str());
}

TEST("the AVX-512 fp32 loop is 16 chains of 16 lanes of FMA") {
  if (!cpu_features().avx512) SKIP("no AVX-512 here (this CPU, or capped by HRSEG_CPU_ISA)");
  const int64_t n = 1000;
  float r = 0.0f;
  for (int64_t i = 0; i < n; ++i) r = std::fma(r, 0.999f, 0.001f);  // one rounding, as vfmadd
  CHECK_EQ(hrseg::kernels::fma_loop_avx512(n), 256.0 * static_cast<double>(r));
}

TEST("the AVX-512 BF16 loop adds two products a lane a step") {
  if (!cpu_features().avx512_bf16) SKIP("no AVX-512 BF16 here (this CPU, or capped by HRSEG_CPU_ISA)");
  const int64_t n = 4096;
  // 16 chains × 16 lanes × n steps × 2 products of 2⁻¹⁰ · 2⁻¹⁰: exact in fp32.
  CHECK_EQ(hrseg::kernels::bf16_loop_avx512(n), 256.0 * static_cast<double>(n) * 2 * std::ldexp(1.0, -20));
}

TEST("the AVX-512 VNNI loop adds four products a lane a step") {
  if (!cpu_features().avx512_vnni) SKIP("no AVX-512 VNNI here (this CPU, or capped by HRSEG_CPU_ISA)");
  const int64_t n = 4096;
  CHECK_EQ(hrseg::kernels::int8_loop_avx512(n), 256.0 * 4 * static_cast<double>(n));
}

TEST("the AMX loops do 16 × 16 products over 64 bytes of K") {
  const auto& f = cpu_features();
  if (!f.amx_int8 || !f.amx_bf16) SKIP("no AMX here (this CPU, or capped by HRSEG_CPU_ISA)");
  if (!hrseg::kernels::amx_enable()) SKIP("Linux refused the AMX tile state (arch_prctl)");
  const int64_t n = 1000;
  // int8: ones × ones over 64 pairs a product; tiles 0 and 3 read back: 64 n each.
  CHECK_EQ(hrseg::kernels::int8_loop_amx(n), 2 * 64.0 * static_cast<double>(n));
  CHECK_EQ(hrseg::kernels::bf16_loop_amx(n), 0.0);
}
#endif

TEST("the portable and AVX2 fp32 loops compute their recurrence (not folded away)") {
  const int64_t n = 1000;
  float r = 0.0f;
  for (int64_t i = 0; i < n; ++i) r = r * 0.999f + 0.001f;
  float sum = 0;  // eight equal lanes, summed in order as the loop does
  for (int i = 0; i < 8; ++i) sum += r;
  CHECK_EQ(hrseg::kernels::fma_loop_generic(n), static_cast<double>(sum));
#if defined(__x86_64__)
  if (!cpu_features().avx2_fma) SKIP("no AVX2 + FMA here (this CPU, or capped by HRSEG_CPU_ISA)");
  float f = 0.0f;
  for (int64_t i = 0; i < n; ++i) f = std::fma(f, 0.999f, 0.001f);
  // 12 chains of 8 equal lanes, folded (r0+r1)+(r2+r3)…: sums of equal values, exact in fp32.
  CHECK_EQ(hrseg::kernels::fma_loop_avx2(n), 2.0 * static_cast<double>(f * 12));
#endif
}

TEST("measure_cpu_peaks lists every instruction set present, and memory") {
  const auto peaks = hrseg::measure_cpu_peaks(1, 0.02, 8 << 20);
  auto has = [&](const char* name) {
    for (const auto& p : peaks)
      if (p.name == name) return p.per_second > 0;
    return false;
  };
  const auto& f = cpu_features();
  CHECK(has("fp32 FMA (portable)"));
  CHECK(has("memory read"));
  CHECK(has("memory copy (read + write)"));
#if defined(__x86_64__)
  CHECK_EQ(has("fp32 FMA (AVX2)"), f.avx2_fma);
  CHECK_EQ(has("fp32 FMA (AVX-512)"), f.avx512);
  CHECK_EQ(has("bf16 dot (AVX-512 BF16)"), f.avx512_bf16);
  CHECK_EQ(has("int8 dot (AVX-512 VNNI)"), f.avx512_vnni);
#endif
  for (const auto& p : peaks) std::printf("  %-28s %.3g %s\n", p.name.c_str(), p.per_second, p.unit.c_str());
}

int main() { return check::run_all(); }
