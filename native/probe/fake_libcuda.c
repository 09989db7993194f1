// A stand-in for the NVIDIA driver's libcuda.so.1, for test/flavour.test.ts only (never shipped:
// built into build/fake-cuda, which neither node-gyp-build nor the prebuilds see). Put on
// LD_LIBRARY_PATH, it lets the real driver probe (driver_probe.c) be tested end to end on a machine
// with no driver: cuDriverGetVersion answers HRSEG_FAKE_CUDA_VERSION (e.g. 12040), or fails
// (CUDA_ERROR_NOT_INITIALIZED, 3) when that is unset. It exports nothing else, so a CUDA runtime
// that loads it afterwards finds no usable driver and the addon runs on the CPU.
#include <stdlib.h>

__attribute__((visibility("default"))) int cuDriverGetVersion(int* version) {
  const char* v = getenv("HRSEG_FAKE_CUDA_VERSION");
  if (!v || !*v) return 3;
  *version = atoi(v);
  return 0;
}
