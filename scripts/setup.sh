#!/usr/bin/env bash
# Sets a clone up: the npm packages, the native addon and the TypeScript build.
#   bash scripts/setup.sh           → what `npm run demo` needs (npm run quickstart)
#   bash scripts/setup.sh --tests   → and what the whole test suite needs (npm run test:all):
#                                     TensorRT's lean runtime, Triton and the CUDA 12 toolchain
#                                     (outside the repo; with the toolchain npm run build builds
#                                     the CUDA 12 flavour too), Chromium, and the linux-arm64
#                                     prebuild, cross-compiled (scripts/arm64/build.sh, which
#                                     installs its pinned toolchain and emulator first)
# Safe to run again: npm packages are installed only when package-lock.json changed since the
# last install, and the native build is incremental.
set -euo pipefail
cd "$(dirname "$0")/.."
tests=0
case "${1:-}" in
  --tests) tests=1 ;;
  '') ;;
  *) echo "usage: bash scripts/setup.sh [--tests]" >&2; exit 2 ;;
esac

# ONNX Runtime's postinstall would download its CUDA provider (hundreds of MB) on linux-x64.
# npm 11 already skips it (package.json allowScripts denies it); older npm runs install scripts,
# so the skip is also said here in the variable onnxruntime-node reads.
export ONNXRUNTIME_NODE_INSTALL=skip
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci" >&2
  npm ci
fi
if [ "$tests" = 1 ]; then
  # Before the build: with its toolchain installed, npm run build also builds the CUDA 12 flavour
  # (docs/cuda.md "Two CUDA flavours"), whose load path and kernels the tests check.
  echo "setup: the CUDA 12 toolchain (Debian's CUDA 12.4, pinned, under ~/.cache/hrseg)" >&2
  bash scripts/cuda12/install-toolchain.sh >/dev/null
fi
echo "setup: npm run build (the native addon, then the TypeScript)" >&2
npm run build

if [ "$tests" = 1 ]; then
  echo "setup: TensorRT's lean runtime for the tests against the real library" >&2
  bash scripts/tensorrt/install-libs.sh >/dev/null
  echo "setup: Triton Inference Server (python backend, CPU) for test/triton.test.ts" >&2
  bash scripts/triton/install.sh >/dev/null
  echo "setup: the linux-arm64 prebuild (cross-compiled; toolchain and qemu-user pinned, under ~/.cache/hrseg/arm64)" >&2
  bash scripts/arm64/build.sh >/dev/null
  if ! command -v chromium >/dev/null && ! command -v chromium-browser >/dev/null; then
    echo "setup: Chromium for the page's browser test (apt-get)" >&2
    apt-get install -y chromium || (apt-get update && apt-get install -y chromium)
  fi
fi
