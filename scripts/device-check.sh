#!/usr/bin/env bash
# One command for the lent GPU machine (CUDA, CMake, Python with PyTorch; no Node.js, no TensorRT),
# with a TensorRT section that runs where libnvinfer.so.11 and Node.js are present:
# builds the native code with CUDA, runs the C++ tests (CPU and GPU parity), runs compute-sanitizer
# on the CUDA parity tests when it is installed, runs the same GPU tests as the CUDA 12 flavour
# builds them (docs/cuda.md "Two CUDA flavours"), runs the kernel benchmarks and the PyTorch eager
# baseline, and prints one table last.
#   bash scripts/device-check.sh [build-dir]
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD="${1:-build-device}"
OUT="${OUT:-$BUILD/out}"
mkdir -p "$OUT"
status=0
step() { echo; echo "== $*"; }

step "configure and build (CUDA, Release)"
nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader || true
# Only this GPU's architecture: the device time is short, and the full list compiles five times.
ARCHS="${HRSEG_CUDA_ARCHS:-}"
if [ -z "$ARCHS" ]; then
  cap="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')"
  [ -n "$cap" ] && ARCHS="${cap}-real"
fi
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DHRSEG_CUDA=ON -DHRSEG_TESTS=ON ${ARCHS:+-DHRSEG_CUDA_ARCHS=$ARCHS} > "$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
grep -E "hrseg:" "$OUT/configure.log"
cmake --build "$BUILD" -j "$(nproc)" > "$OUT/build.log" 2>&1 || { grep -E "error|undefined reference" "$OUT/build.log" | head -30; exit 1; }

step "C++ tests (ctest)"
ctest --test-dir "$BUILD" --output-on-failure 2>&1 | tee "$OUT/ctest.log" | tail -15 || status=1
grep -q "tests passed, 0 tests failed" "$OUT/ctest.log" || status=1
"$BUILD/native/tests/test_cuda_kernels" > "$OUT/parity.log" 2>&1
parity=$?
tail -12 "$OUT/parity.log"
[ "$parity" -eq 0 ] || { echo "GPU parity tests did not all pass (exit $parity)"; status=1; }

step "compute-sanitizer memcheck"
if command -v compute-sanitizer > /dev/null; then
  compute-sanitizer --tool memcheck --error-exitcode 9 "$BUILD/native/tests/test_cuda_kernels" > "$OUT/memcheck.log" 2>&1
  rc=$?
  tail -4 "$OUT/memcheck.log"
  [ "$rc" -eq 0 ] && echo "memcheck: clean" || { echo "memcheck: exit $rc"; status=1; }
else
  echo "compute-sanitizer not found: memcheck not run"
fi

# The CUDA 12 flavour's kernels: the same tests compiled by CUDA 12.4 (a 12.x runtime runs on this
# newer driver too). Built here for this GPU where the toolchain is (HRSEG_CUDA12_ROOT, or
# scripts/cuda12/install-toolchain.sh's folder: the lent machine cannot download it); else the
# test binaries scripts/cuda12/build.sh made for every architecture, carried in build-cuda12/
# (they link the CUDA runtime statically and need nothing else).
step "CUDA 12 flavour: GPU tests"
cuda12_root="${HRSEG_CUDA12_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/hrseg/cuda-12.4}"
cuda12_tests=""
# CUDA 12.4 has no Blackwell code (sm_100 and up): there the flavour runs compute_90 PTX, which is
# what is tested (the driver JIT-compiles it at the first launch).
ARCHS12="$ARCHS"
case "$ARCHS" in 1[0-9][0-9]-real) ARCHS12="90-virtual" ;; esac
if [ -x "$cuda12_root/bin/nvcc" ]; then
  cmake -S . -B "$BUILD-cuda12" -DCMAKE_BUILD_TYPE=Release -DHRSEG_CUDA=ON -DHRSEG_TESTS=ON -DHRSEG_TENSORRT=OFF \
    -DCMAKE_CUDA_COMPILER="$cuda12_root/bin/nvcc" ${ARCHS12:+-DHRSEG_CUDA_ARCHS=$ARCHS12} > "$OUT/configure-cuda12.log" 2>&1 &&
    cmake --build "$BUILD-cuda12" -j "$(nproc)" --target test_cuda_kernels test_cuda_runtime > "$OUT/build-cuda12.log" 2>&1 &&
    cuda12_tests="$BUILD-cuda12/native/tests"
  [ -n "$cuda12_tests" ] || { echo "CUDA 12 build failed:"; grep -E "error|undefined reference" "$OUT/build-cuda12.log" "$OUT/configure-cuda12.log" | head -20; status=1; }
elif [ -x build-cuda12/native/tests/test_cuda_kernels ]; then
  cuda12_tests=build-cuda12/native/tests
else
  echo "CUDA 12 flavour skipped: no CUDA 12 toolchain ($cuda12_root) and no build-cuda12/native/tests (bash scripts/cuda12/build.sh, then carry build-cuda12)"
fi
if [ -n "$cuda12_tests" ]; then
  for t in test_cuda_runtime test_cuda_kernels; do
    "$cuda12_tests/$t" > "$OUT/cuda12-$t.log" 2>&1
    rc=$?
    tail -3 "$OUT/cuda12-$t.log"
    grep -q "0 passed" "$OUT/cuda12-$t.log" && { echo "CUDA 12 $t ran nothing (skipped?)"; status=1; }
    [ "$rc" -eq 0 ] || { echo "CUDA 12 $t: exit $rc"; status=1; }
  done
fi

step "benchmarks"
"$BUILD/native/tests/bench_cuda" "$OUT/bench.json" | tee "$OUT/bench.log"
"$BUILD/native/tests/bench_head" 5 > "$OUT/bench_head_cpu.log" 2>&1 || true
python3 scripts/torch_baseline.py "$OUT/torch.json" | tee "$OUT/torch.log" || echo "PyTorch baseline failed"

# TensorRT: only where libnvinfer.so.11 and Node.js exist (a user's machine; the lent GPU has
# neither). Builds the demo package's engines (fp32 and fp16), runs the same segmentation on the
# CPU path and on TensorRT, and compares the chosen proposals, the mask and the stage timings.
step "TensorRT"
trt_lib=""
for c in "${TENSORRT_ROOT:-/nonexistent}/lib/libnvinfer.so.11" $(ldconfig -p 2>/dev/null | awk '/libnvinfer\.so\.11 /{print $NF}'); do
  [ -f "$c" ] && trt_lib="$c" && break
done
if [ -z "$trt_lib" ] || ! command -v node > /dev/null || [ ! -f dist/cli.js ]; then
  echo "TensorRT section skipped: needs libnvinfer.so.11 (found: ${trt_lib:-none}), Node.js and a built package (npm run build)"
else
  npm run -s demo:model > "$OUT/trt-demo.log" 2>&1
  # Per engine: TensorRT vs ONNX Runtime's CPU path, the demo package and a random-weight SAM/DINOv2 one.
  node dist/cli.js convert --random sam-vit-b,dinov2-vits14 --base models/demo --out models/random-trt --force > "$OUT/trt-random.log" 2>&1
  for precision in fp32 fp16; do
    node scripts/trt-check.mjs models/demo "$precision" 2>> "$OUT/trt-build.log" | tee -a "$OUT/trt-check.log" || status=1
  done
  node scripts/trt-check.mjs models/random-trt fp16 2>> "$OUT/trt-build.log" | tee -a "$OUT/trt-check.log" || status=1
  # End to end: the same instruction on the CPU path and on TensorRT.
  node dist/cli.js segment examples/shapes.png "the red shape" --model models/demo --form phrase --device cpu --json > "$OUT/seg-cpu.json"
  node dist/cli.js segment examples/shapes.png "the red shape" --model models/demo --form phrase --device tensorrt --json > "$OUT/seg-trt.json"
  node -e '
    const [a, b] = process.argv.slice(1).map((f) => JSON.parse(require("fs").readFileSync(f, "utf8")));
    const row = (k, x, y) => console.log(`${k.padEnd(24)} ${String(x).padStart(14)} ${String(y).padStart(14)}`);
    row("", "cpu", "tensorrt");
    row("chosen", JSON.stringify(a.chosen), JSON.stringify(b.chosen));
    row("mask area", a.area, b.area);
    for (const k of Object.keys(a.timings ?? {})) row(`ms ${k}`, a.timings[k].toFixed(1), (b.timings?.[k] ?? NaN).toFixed(1));
    if (JSON.stringify(a.chosen) !== JSON.stringify(b.chosen)) process.exit(1);
  ' "$OUT/seg-cpu.json" "$OUT/seg-trt.json" || { echo "TensorRT and CPU chose different proposals"; status=1; }
fi

step "table"
python3 scripts/device_table.py "$OUT/bench.json" "$OUT/torch.json"
exit $status
