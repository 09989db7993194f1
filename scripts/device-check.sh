#!/usr/bin/env bash
# One command for the lent GPU machine (CUDA, CMake, Python with PyTorch; no Node.js, no TensorRT):
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

step "table"
python3 scripts/device_table.py "$OUT/bench.json" "$OUT/torch.json"
exit $status
