#!/usr/bin/env bash
# One command for the lent GPU machine (CUDA, CMake, Python with PyTorch; no Node.js, no TensorRT),
# with a TensorRT section that runs where libnvinfer.so.11 and Node.js are present:
# builds the native code with CUDA, runs the C++ tests (CPU and GPU parity), runs compute-sanitizer
# on the CUDA parity tests when it is installed, runs the kernel benchmarks and the PyTorch eager
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
