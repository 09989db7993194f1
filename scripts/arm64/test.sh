#!/usr/bin/env bash
# The aarch64 C++ core's tests under qemu-user (npm run test:native runs this after the x86 ones;
# docs/arm64.md): build-arm64-core (scripts/arm64/build.sh) holds them cross-compiled, and the
# toolchain file makes ctest run each through qemu-aarch64 with the arm64 sysroot. test_linear
# checks the NEON kernels (and the generic ones) against the float64 reference on fresh random
# inputs, and that aarch64 picks NEON; the others run the core (head ops, mask generator, RLE,
# thread pool) as it is compiled for aarch64.
# Without build-arm64-core it says so and succeeds, unless HRSEG_REQUIRE_ARM64=1 (CI): then it fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ ! -f build-arm64-core/CTestTestfile.cmake ]; then
  if [ "${HRSEG_REQUIRE_ARM64:-}" = 1 ]; then
    echo "arm64: build-arm64-core is missing and HRSEG_REQUIRE_ARM64=1: run bash scripts/arm64/build.sh" >&2
    exit 1
  fi
  echo "arm64: SKIP the aarch64 core's tests under qemu: not built (bash scripts/arm64/build.sh)" >&2
  exit 0
fi
start=$SECONDS
ctest --test-dir build-arm64-core --output-on-failure -j 2 \
  -R '^test_(core_basics|linear|head_ops|rle|thread_pool|mask_generator)$'
echo "arm64: the aarch64 core's tests ran under qemu-user in $((SECONDS - start)) s" >&2
