// The loops behind measure_cpu_peaks: each keeps enough independent chains in flight to cover the
// unit's latency, and returns something derived from them so the compiler cannot drop the work.
// Each *_avx512/_amx function is compiled for its instruction set alone (CMakeLists.txt) and called
// only after cpu_features() says the CPU and the OS have it. Internal to native/core.
#pragma once
#include <cstdint>

namespace hrseg::kernels {

#if defined(__x86_64__)
// Per iteration: 16 chains × 16 lanes × 2 FLOP.
double fma_loop_avx512(int64_t iterations);
// Per iteration: 16 chains × 16 lanes × 2 bf16 pairs × 2 FLOP.
double bf16_loop_avx512(int64_t iterations);
// Per iteration: 16 chains × 16 lanes × 4 int8 pairs × 2 OP.
double int8_loop_avx512(int64_t iterations);
// Per iteration: 4 tile products of 16 × 16 × 32 bf16 (× 2 FLOP). Call amx_enable() first.
double bf16_loop_amx(int64_t iterations);
// Per iteration: 4 tile products of 16 × 16 × 64 int8 (× 2 OP). Call amx_enable() first.
double int8_loop_amx(int64_t iterations);
// Asks Linux for this process's permission to use the AMX tile data; false where refused.
bool amx_enable();
#endif

}  // namespace hrseg::kernels
