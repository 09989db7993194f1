#include "hrseg/cpu_peaks.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>

#include "cpu_peaks_kernels.h"
#include "linear_kernels.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

namespace hrseg {

namespace {

#if defined(__x86_64__)
uint64_t xcr0() {
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}
#endif

CpuFeatures detect() {
  CpuFeatures f;
#if defined(__x86_64__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  const bool osxsave = c & (1u << 27), fma = c & (1u << 12), f16c = c & (1u << 29), avx = c & (1u << 28);
  if (!osxsave || !avx) return f;
  const uint64_t xcr = xcr0();
  const bool ymm_state = (xcr & 0x6) == 0x6, zmm_state = (xcr & 0xE6) == 0xE6, tile_state = (xcr & 0x60000) == 0x60000;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return f;
  f.avx2_fma = ymm_state && (b & (1u << 5)) && fma && f16c;
  f.avx512 = zmm_state && (b & (1u << 16)) && (b & (1u << 17)) && (b & (1u << 30)) && (b & (1u << 31));
  f.avx512_vnni = f.avx512 && (c & (1u << 11));
  const bool amx_tile = tile_state && (d & (1u << 24));
  f.amx_bf16 = amx_tile && (d & (1u << 22));
  f.amx_int8 = amx_tile && (d & (1u << 25));
  unsigned a1 = 0, b1 = 0, c1 = 0, d1 = 0;
  if (__get_cpuid_count(7, 1, &a1, &b1, &c1, &d1)) f.avx512_bf16 = f.avx512 && (a1 & (1u << 5));
#elif defined(__aarch64__)
  f.neon = true;  // Advanced SIMD is part of the aarch64 base
#endif
  return f;
}

// Calibrates `loop` on one thread to about `seconds`, then runs it on every thread at once and
// returns the work done per second (work_per_iteration × iterations × threads / the slowest).
double all_threads(const std::function<double(int64_t)>& loop, double work_per_iteration, int threads, double seconds) {
  using Clock = std::chrono::steady_clock;
  int64_t iters = 1 << 10;
  for (;;) {
    auto t0 = Clock::now();
    volatile double sink = loop(iters);
    (void)sink;
    const double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    if (dt > 0.02) {
      iters = std::max<int64_t>(1, static_cast<int64_t>(static_cast<double>(iters) * (seconds / dt)));
      break;
    }
    // A loop that takes no time however long it is was compiled away: no peak, rather than
    // spinning until the count overflows (a folded loop did exactly that).
    if (iters > (int64_t{1} << 40)) return 0;
    iters *= 4;
  }
  std::vector<std::thread> pool;
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<double> times(threads);
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      auto t0 = Clock::now();
      volatile double sink = loop(iters);
      (void)sink;
      times[t] = std::chrono::duration<double>(Clock::now() - t0).count();
    });
  }
  while (ready.load() < threads) std::this_thread::yield();
  go.store(true);
  for (auto& th : pool) th.join();
  const double slowest = *std::max_element(times.begin(), times.end());
  return static_cast<double>(threads) * static_cast<double>(iters) * work_per_iteration / slowest;
}

// Every thread runs `pass(begin, end)` over its share of [0, n) at once; returns the seconds taken.
double parallel_pass(size_t n, int threads, const std::function<void(size_t, size_t)>& pass) {
  using Clock = std::chrono::steady_clock;
  std::vector<std::thread> pool;
  const auto t0 = Clock::now();
  for (int t = 0; t < threads; ++t) pool.emplace_back([&, t] { pass(n * t / threads, n * (t + 1) / threads); });
  for (auto& th : pool) th.join();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The best rate of the passes that fit in `seconds` (at least 3), as bytes_per_element × n / s.
double bandwidth(size_t n, int threads, double seconds, double bytes_per_element,
                 const std::function<void(size_t, size_t)>& pass) {
  double best = 0, spent = 0;
  for (int round = 0; round < 3 || (spent < seconds && round < 100); ++round) {
    const double dt = parallel_pass(n, threads, pass);
    spent += dt;
    best = std::max(best, bytes_per_element * static_cast<double>(n) / dt);
  }
  return best;
}

// HRSEG_CPU_ISA=avx2 (or generic) hides what lies above it, so that CI runs the AVX2 (or portable)
// paths on a machine with AVX-512 and AMX: those are what an older CPU takes.
CpuFeatures capped(CpuFeatures f) {
  const char* isa = std::getenv("HRSEG_CPU_ISA");
  if (!isa || !*isa) return f;
  const std::string cap = isa;
  if (cap == "generic" || cap == "avx2") {
    f.avx512 = f.avx512_bf16 = f.avx512_vnni = f.amx_bf16 = f.amx_int8 = false;
    if (cap == "generic") f.avx2_fma = f.neon = false;
  }
  return f;
}

}  // namespace

const CpuFeatures& cpu_features() noexcept {
  static const CpuFeatures f = capped(detect());
  return f;
}

std::string cpu_feature_names() {
  const CpuFeatures& f = cpu_features();
  std::string s;
  auto add = [&s](bool on, const char* name) {
    if (!on) return;
    if (!s.empty()) s += ' ';
    s += name;
  };
  add(f.avx2_fma, "avx2 fma");
  add(f.avx512, "avx512");
  add(f.avx512_bf16, "avx512-bf16");
  add(f.avx512_vnni, "avx512-vnni");
  add(f.amx_bf16, "amx-bf16");
  add(f.amx_int8, "amx-int8");
  add(f.neon, "neon");
  return s;
}

namespace {
std::vector<CpuPeak> measure_peaks(int threads, double seconds, size_t bandwidth_bytes, const std::string& only);
}  // namespace

std::vector<CpuPeak> measure_cpu_peaks(int threads, double seconds, size_t bandwidth_bytes) {
  return measure_peaks(threads, seconds, bandwidth_bytes, "");
}

double measure_cpu_peak(const std::string& name, int threads, double seconds) {
  for (const auto& p : measure_peaks(threads, seconds, 0, name))
    if (p.name == name) return p.per_second;
  return 0;
}

namespace {

// Every peak (`only` empty) or the one named `only`.
std::vector<CpuPeak> measure_peaks(int threads, double seconds, size_t bandwidth_bytes, const std::string& only) {
  threads = std::max(1, threads);
  const CpuFeatures& f = cpu_features();
  std::vector<CpuPeak> out;
  auto peak = [&](const char* name, const char* kind, const char* unit, double (*loop)(int64_t), double work) {
    if (only.empty() || only == name) out.push_back({name, kind, unit, all_threads(loop, work, threads, seconds)});
  };
  peak("fp32 FMA (portable)", "fp32", "FLOP/s", kernels::fma_loop_generic, 8.0 * 2);
#if defined(__x86_64__)
  if (f.avx2_fma) peak("fp32 FMA (AVX2)", "fp32", "FLOP/s", kernels::fma_loop_avx2, 12.0 * 8 * 2);
  if (f.avx512) peak("fp32 FMA (AVX-512)", "fp32", "FLOP/s", kernels::fma_loop_avx512, 16.0 * 16 * 2);
  if (f.avx512_bf16) peak("bf16 dot (AVX-512 BF16)", "bf16", "FLOP/s", kernels::bf16_loop_avx512, 16.0 * 16 * 2 * 2);
  if (f.avx512_vnni) peak("int8 dot (AVX-512 VNNI)", "int8", "OP/s", kernels::int8_loop_avx512, 16.0 * 16 * 4 * 2);
  const bool amx = (f.amx_bf16 || f.amx_int8) && kernels::amx_enable();
  if (amx && f.amx_bf16) peak("bf16 tiles (AMX)", "bf16", "FLOP/s", kernels::bf16_loop_amx, 4.0 * 16 * 16 * 32 * 2);
  if (amx && f.amx_int8) peak("int8 tiles (AMX)", "int8", "OP/s", kernels::int8_loop_amx, 4.0 * 16 * 16 * 64 * 2);
#endif
#if defined(__aarch64__)
  if (f.neon) peak("fp32 FMA (NEON)", "fp32", "FLOP/s", kernels::fma_loop_neon, 12.0 * 4 * 2);
#endif
  if (bandwidth_bytes >= 2 * sizeof(uint64_t)) {
    // Two halves: read the first; copy the first into the second. Touched by every thread first,
    // so that the pages exist (and sit near their readers) before the clock starts.
    const size_t n = bandwidth_bytes / sizeof(uint64_t) / 2;
    std::unique_ptr<uint64_t[]> src(new uint64_t[n]), dst(new uint64_t[n]);
    parallel_pass(n, threads, [&](size_t b, size_t e) {
      for (size_t i = b; i < e; ++i) src[i] = i;
      std::memset(dst.get() + b, 0, (e - b) * sizeof(uint64_t));
    });
    std::atomic<uint64_t> sink{0};
    // Integer sums are associative, so the compiler vectorises this loop with no fast-math.
    const double read = bandwidth(n, threads, seconds, sizeof(uint64_t), [&](size_t b, size_t e) {
      uint64_t s = 0;
      for (size_t i = b; i < e; ++i) s += src[i];
      sink.fetch_add(s);
    });
    const double copy = bandwidth(n, threads, seconds, 2.0 * sizeof(uint64_t), [&](size_t b, size_t e) {
      std::memcpy(dst.get() + b, src.get() + b, (e - b) * sizeof(uint64_t));
    });
    out.push_back({"memory read", "bandwidth", "B/s", read});
    out.push_back({"memory copy (read + write)", "bandwidth", "B/s", copy});
  }
  return out;
}

}  // namespace

}  // namespace hrseg
