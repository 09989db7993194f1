// What this CPU can do at most, measured: the arithmetic peaks of each instruction set it has (fp32
// FMA, bf16 and int8 dot products, AMX tiles) and its memory bandwidth, all threads together. The
// benchmarks state each stage's speed as a share of the peak of the arithmetic it runs on.
#pragma once
#include <string>
#include <vector>

namespace hrseg {

struct CpuFeatures {
  bool avx2_fma = false;     // AVX2 + FMA (+ F16C)
  bool avx512 = false;       // AVX-512 F, BW, VL, DQ, with the OS saving zmm state
  bool avx512_bf16 = false;  // vdpbf16ps
  bool avx512_vnni = false;  // vpdpbusd
  bool amx_bf16 = false;     // AMX tiles with bf16 (the OS permission is asked for when used)
  bool amx_int8 = false;
  bool neon = false;  // aarch64 Advanced SIMD
};

// Read once from CPUID and XGETBV; a feature the OS does not save the state of reads false.
// HRSEG_CPU_ISA=avx2 or generic caps it (CI runs the older CPUs' paths so).
const CpuFeatures& cpu_features() noexcept;
// e.g. "avx2 fma avx512 avx512-bf16 avx512-vnni amx-bf16 amx-int8"
std::string cpu_feature_names();

struct CpuPeak {
  std::string name;  // e.g. "fp32 FMA (AVX-512)"
  std::string kind;  // "fp32", "bf16", "int8", "bandwidth"
  std::string unit;  // "FLOP/s", "OP/s", "B/s"
  double per_second = 0;
};

// Every peak this CPU has an instruction set for, each measured for about `seconds` on `threads`
// threads at once. Memory bandwidth reads and writes `bandwidth_bytes` (far larger than the caches).
std::vector<CpuPeak> measure_cpu_peaks(int threads, double seconds, size_t bandwidth_bytes);

// One arithmetic peak by its name (e.g. "fp32 FMA (AVX2)"); 0 where this CPU has no such one.
double measure_cpu_peak(const std::string& name, int threads, double seconds);

}  // namespace hrseg
