#!/usr/bin/env bash
# Builds the CUDA 12 flavour of the addon (docs/cuda.md "Two CUDA flavours"): the same sources as
# the CUDA 13 one in build/, compiled by the pinned CUDA 12.4 toolchain (install-toolchain.sh) into
# build-cuda12/, with code for Turing to Hopper and compute_90 PTX. Also builds, in the same tree,
# the kernel tests (real GPU and simulated) that scripts/cuda12/test.sh runs. Incremental.
#   bash scripts/cuda12/build.sh   → build-cuda12/Release/hrseg.node
# With TENSORRT10_ROOT (TensorRT 10's headers) it also builds the TensorRT 10 layer with CUDA 12.4
# (libhrseg_trt10.so and its plugins, and their tests): what a CUDA 12 driver with TensorRT 10
# runs. No TensorRT 11 layer here: TensorRT 11 needs CUDA 13 (docs/cuda.md "Two CUDA flavours").
set -euo pipefail
cd "$(dirname "$0")/../.."
toolkit="$(bash scripts/cuda12/install-toolchain.sh)"
# sm_75 (Turing) to sm_90 (Hopper) as real code; Blackwell (sm_100, sm_120) runs the compute_90
# PTX, JIT-compiled by the driver at first load: CUDA 12.4 predates Blackwell's native code (12.8).
archs="75-real;80-real;86-real;89-real;90-real;90-virtual"
jobs="${HRSEG_BUILD_JOBS:-2}"
targets=(test_cuda_kernels test_cuda_runtime test_cuda_kernels_sim test_cuda_runtime_sim)
unset TENSORRT_ROOT
if [ -n "${TENSORRT10_ROOT:-}" ] && [ -f "$TENSORRT10_ROOT/include/NvInfer.h" ]; then
  export HRSEG_TENSORRT=ON
  trt=(--CDHRSEG_TENSORRT=ON "--CDTENSORRT10_ROOT=$TENSORRT10_ROOT" --CDTENSORRT_ROOT=)
  targets+=(hrseg_trt10 hrseg_trt10_plugins test_trt10_real test_trt10_backend)
else
  export HRSEG_TENSORRT=OFF
  trt=(--CDHRSEG_TENSORRT=OFF --CDTENSORRT10_ROOT= --CDTENSORRT_ROOT=)
fi
npx cmake-js compile --out build-cuda12 --target hrseg_addon --parallel "$jobs" \
  --CDCMAKE_CUDA_COMPILER="$toolkit/bin/nvcc" --CDHRSEG_CUDA_ARCHS="$archs" "${trt[@]}" --CDHRSEG_TESTS=ON >&2
cmake --build build-cuda12 -j "$jobs" --target "${targets[@]}" >&2
echo "build-cuda12/Release/hrseg.node"
