#!/usr/bin/env bash
# The CUDA 12 flavour's kernel tests (npm run test:native runs this after the main ctest): the
# same test sources as build/'s, in build-cuda12 (scripts/cuda12/build.sh):
#   test_cuda_kernels, test_cuda_runtime  the kernels as 12.4's nvcc compiled them, on a real GPU
#                                         (skipped, with the reason, where there is none)
#   test_cuda_kernels_sim, _runtime_sim   the same kernels on the simulated GPU, with the static
#                                         shared memory 12.4's ptxas gives them (the simulated T4 run,
#                                         test_cuda_kernels_sim_t4, is build/'s: the simulator runs
#                                         the same C++ for both flavours, so once is enough)
# Without build-cuda12 it says so and succeeds, unless HRSEG_REQUIRE_CUDA12=1 (CI), where it fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ ! -f build-cuda12/CTestTestfile.cmake ]; then
  if [ "${HRSEG_REQUIRE_CUDA12:-}" = 1 ]; then
    echo "cuda12: build-cuda12 is missing and HRSEG_REQUIRE_CUDA12=1: run bash scripts/cuda12/build.sh" >&2
    exit 1
  fi
  echo "cuda12: SKIP the CUDA 12 flavour's kernel tests: not built (bash scripts/cuda12/build.sh)" >&2
  exit 0
fi
# And, where it built the TensorRT 10 layer, that layer's tests (the fake library's, and the real
# TensorRT 10.16.1 lean runtime's: a CUDA 12 build, as this flavour is).
ctest --test-dir build-cuda12 --output-on-failure -R '^test_(cuda_(kernels|runtime)(_sim)?|trt10_(real|backend))$'
node scripts/ctest-skips.mjs build-cuda12
