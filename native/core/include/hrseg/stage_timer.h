// Per-stage wall-clock times, printed to stderr when HRSEG_PROFILE=1: a cheap way to see where a
// step spends its time without a profiler. Costs one getenv per step otherwise.
#pragma once
#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace hrseg {

class StageTimer {
 public:
  explicit StageTimer(const char* what) : what_(what), on_(enabled()), last_(std::chrono::steady_clock::now()) {}
  void lap(const char* stage) {
    if (!on_) return;
    auto now = std::chrono::steady_clock::now();
    std::fprintf(stderr, "[hrseg] %s: %s %.2f ms\n", what_, stage,
                 std::chrono::duration<double, std::milli>(now - last_).count());
    last_ = now;
  }

 private:
  static bool enabled() {
    const char* v = std::getenv("HRSEG_PROFILE");
    return v && v[0] == '1';
  }
  const char* what_;
  bool on_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace hrseg
