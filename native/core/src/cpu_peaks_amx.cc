// Compiled with -mamx-tile -mamx-bf16 -mamx-int8 (CMakeLists.txt) and only called after
// cpu_features() says the CPU has AMX and amx_enable() got Linux's permission for its tile state.
// Four accumulator tiles from two A and two B tiles: each product is 16 × 16 outputs over 64
// bytes of K (32 bf16 or 64 int8 pairs), the most one instruction does.
#if defined(__x86_64__)
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>

#include "cpu_peaks_kernels.h"

namespace hrseg::kernels {

namespace {

constexpr int kArchReqXcompPerm = 0x1023;  // arch_prctl: ask for an extended state component
constexpr int kXfeatureXtiledata = 18;     // the AMX tile data

struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

void configure() {
  TileConfig cfg;
  for (int t = 0; t < 8; ++t) {
    cfg.colsb[t] = 64;
    cfg.rows[t] = 16;
  }
  _tile_loadconfig(&cfg);
}

template <typename Body>
double run_tiles(int64_t iterations, int8_t fill, Body body) {
  alignas(64) int8_t src[16 * 64];
  std::memset(src, fill, sizeof src);
  alignas(64) int32_t out[16 * 16];
  configure();
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  _tile_loadd(4, src, 64);
  _tile_loadd(5, src, 64);
  _tile_loadd(6, src, 64);
  _tile_loadd(7, src, 64);
  for (int64_t i = 0; i < iterations; ++i) body();
  _tile_stored(0, out, 64);
  double s = out[0];
  _tile_stored(3, out, 64);
  s += out[255];
  _tile_release();
  return s;
}

}  // namespace

bool amx_enable() { return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0; }

double bf16_loop_amx(int64_t iterations) {
  // bf16 0x0000 pairs: the products are zeros, the work is the same (AMX has no data-dependent timing).
  return run_tiles(iterations, 0, [] {
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  });
}

double int8_loop_amx(int64_t iterations) {
  return run_tiles(iterations, 1, [] {
    _tile_dpbusd(0, 4, 6);
    _tile_dpbusd(1, 4, 7);
    _tile_dpbusd(2, 5, 6);
    _tile_dpbusd(3, 5, 7);
  });
}

}  // namespace hrseg::kernels

#endif  // __x86_64__
