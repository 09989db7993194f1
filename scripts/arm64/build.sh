#!/usr/bin/env bash
# Cross-builds the linux-arm64 prebuild on an x86-64 machine (docs/arm64.md), with the toolchains
# scripts/arm64/install-toolchain.sh installs (pinned; it is run first, and does nothing when done):
#   build-arm64/Release/hrseg.node       the addon, CUDA 13 flavour: CUDA 13.0 with the static
#                                        CUDA runtime of the aarch64 (SBSA) toolkit, code for
#                                        sm_87 (Orin), sm_90 (Grace Hopper), sm_110 (Thor) and
#                                        compute_90 PTX (Blackwell servers and newer JIT it)
#   build-arm64/Release/libhrseg_trt*.so the TensorRT 11 and 10 layers, where TENSORRT_ROOT /
#                                        TENSORRT10_ROOT name their headers (as CI does)
#   build-arm64/probe/hrseg_probe.node   the driver probe
#   build-arm64-cuda12/Release/          the CUDA 12 flavour (Jetson Orin with JetPack 6, CUDA 12
#                                        servers): CUDA 12.4, code for sm_87 and sm_90 and compute_90
#                                        PTX, linked against the system's libcudart.so.12 (not the
#                                        server build of the runtime: docs/arm64.md "CUDA runtimes"),
#                                        with its TensorRT 10 layer where TENSORRT10_ROOT is
#   build-arm64-core/                    the C++ core and its tests, CPU only (ctest runs them under
#                                        qemu-user: scripts/arm64/test.sh)
# then copies them to prebuilds/linux-arm64/ (as scripts/prebuild-flavours.mjs lays out linux-x64).
# Incremental. HRSEG_BUILD_JOBS (default 2) sets the parallelism.
set -euo pipefail
cd "$(dirname "$0")/../.."
root="$(bash scripts/arm64/install-toolchain.sh)"
jobs="${HRSEG_BUILD_JOBS:-2}"
toolchain="$PWD/cmake/aarch64-linux-gnu.cmake"
export HRSEG_ARM64_ROOT="$root"
# The flavour's CUDA architectures (docs/arm64.md "What is built").
archs="87-real;90-real;110-real;90-virtual"
trt=(--CDHRSEG_TENSORRT=ON "--CDTENSORRT_ROOT=${TENSORRT_ROOT:-}" "--CDTENSORRT10_ROOT=${TENSORRT10_ROOT:-}")

# 1. The C++ core and its tests, without CUDA: what ctest runs under emulation (the NEON kernels
#    against the float64 references). The simulated-GPU tests are left out: they run the same
#    C++ on x86, and under qemu their sanitizers cost minutes.
cmake -S . -B build-arm64-core -DCMAKE_TOOLCHAIN_FILE="$toolchain" -DHRSEG_CUDA=OFF -DHRSEG_TENSORRT=OFF \
  -DHRSEG_TESTS=ON >&2
cmake --build build-arm64-core -j "$jobs" --target test_core_basics test_linear test_head_ops test_rle \
  test_thread_pool test_mask_generator >&2

# 2. The addon (Node-API headers are the same on every architecture: cmake-js takes them from
#    node-api-headers), its TensorRT layers and the probe.
npx cmake-js compile --out build-arm64 --arch arm64 --parallel "$jobs" \
  "--CDCMAKE_TOOLCHAIN_FILE=$toolchain" "--CDCMAKE_CUDA_COMPILER=$root/cuda-13.0/bin/nvcc" \
  "--CDHRSEG_CUDA_ARCHS=$archs" "${trt[@]}" --CDHRSEG_TESTS=OFF >&2

# 2b. The CUDA 12 flavour. No TensorRT 11 layer: TensorRT 11 needs CUDA 13.
trt12=(--CDHRSEG_TENSORRT=ON --CDTENSORRT_ROOT= "--CDTENSORRT10_ROOT=${TENSORRT10_ROOT:-}")
[ -n "${TENSORRT10_ROOT:-}" ] || trt12=(--CDHRSEG_TENSORRT=OFF --CDTENSORRT_ROOT= --CDTENSORRT10_ROOT=)
npx cmake-js compile --out build-arm64-cuda12 --arch arm64 --parallel "$jobs" --target hrseg_addon \
  "--CDCMAKE_TOOLCHAIN_FILE=$toolchain" "--CDCMAKE_CUDA_COMPILER=$root/cuda-12.4/bin/nvcc" \
  "--CDHRSEG_CUDA_ARCHS=87-real;90-real;90-virtual" "${trt12[@]}" --CDHRSEG_TESTS=OFF >&2

# 3. prebuilds/linux-arm64, laid out as linux-x64's (lib/native.ts reads both the same way).
out=prebuilds/linux-arm64
rm -rf "$out"
mkdir -p "$out/probe" "$out/cuda12"
ship() {
  cp "$1" "$2"
  aarch64-linux-gnu-strip --strip-unneeded "$2"
  echo "arm64 prebuild: $2" >&2
}
ship build-arm64/Release/hrseg.node "$out/hrseg.glibc.node"
ship build-arm64/probe/hrseg_probe.node "$out/probe/hrseg_probe.node"
for lib in build-arm64/Release/libhrseg_trt*.so; do
  if [ -e "$lib" ]; then ship "$lib" "$out/$(basename "$lib")"; fi
done
ship build-arm64-cuda12/Release/hrseg.node "$out/cuda12/hrseg.glibc.node"
for lib in build-arm64-cuda12/Release/libhrseg_trt10*.so; do
  if [ -e "$lib" ]; then ship "$lib" "$out/cuda12/$(basename "$lib")"; fi
done
echo "$out"
