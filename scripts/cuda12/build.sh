#!/usr/bin/env bash
# Builds the CUDA 12 flavour of the addon (docs/cuda.md "Two CUDA flavours"): the same sources as
# the CUDA 13 one in build/, compiled by the pinned CUDA 12.4 toolchain (install-toolchain.sh) into
# build-cuda12/, with code for Turing to Hopper and compute_90 PTX. Also builds, in the same tree,
# the kernel tests (real GPU and simulated) that scripts/cuda12/test.sh runs. Incremental.
#   bash scripts/cuda12/build.sh   → build-cuda12/Release/hrseg.node
# The TensorRT layers are not built here (HRSEG_TENSORRT=OFF): they are CUDA 13 builds that the
# CUDA 12 flavour does not load (docs/cuda.md).
set -euo pipefail
cd "$(dirname "$0")/../.."
toolkit="$(bash scripts/cuda12/install-toolchain.sh)"
# sm_75 (Turing) to sm_90 (Hopper) as real code; Blackwell (sm_100, sm_120) runs the compute_90
# PTX, JIT-compiled by the driver at first load: CUDA 12.4 predates Blackwell's native code (12.8).
archs="75-real;80-real;86-real;89-real;90-real;90-virtual"
jobs="${HRSEG_BUILD_JOBS:-2}"
export HRSEG_TENSORRT=OFF
npx cmake-js compile --out build-cuda12 --target hrseg_addon --parallel "$jobs" \
  --CDCMAKE_CUDA_COMPILER="$toolkit/bin/nvcc" --CDHRSEG_CUDA_ARCHS="$archs" --CDHRSEG_TENSORRT=OFF --CDHRSEG_TESTS=ON >&2
cmake --build build-cuda12 -j "$jobs" --target test_cuda_kernels test_cuda_runtime test_cuda_kernels_sim test_cuda_runtime_sim >&2
echo "build-cuda12/Release/hrseg.node"
