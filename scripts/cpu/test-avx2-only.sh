#!/usr/bin/env bash
# The native core on an x86-64 without AVX-512 (docs/performance.md "The machine's peaks"): the
# core's GEMM and peak tests, then the prebuilt addon in Node, under qemu-user emulating a Haswell
# (AVX2 + FMA, no AVX-512, no AMX), so an AVX-512 or AMX instruction reached without its CPU check
# dies with SIGILL here whatever CPU CI has. qemu-x86_64 comes with the arm64 toolchain
# (scripts/arm64/install-toolchain.sh, pinned; run by scripts/setup.sh --tests).
set -euo pipefail
cd "$(dirname "$0")/../.."
qemu="${HRSEG_QEMU_X86_64:-$HOME/.cache/hrseg/arm64/qemu/usr/bin/qemu-x86_64}"
if [ ! -x "$qemu" ]; then
  msg="avx2-only: SKIP the native core on an emulated AVX2-only CPU: no qemu-x86_64 at $qemu (bash scripts/arm64/install-toolchain.sh)"
  if [ "${HRSEG_REQUIRE_AVX2_ONLY:-}" = 1 ]; then echo "$msg, and HRSEG_REQUIRE_AVX2_ONLY=1" >&2; exit 1; fi
  echo "$msg" >&2
  exit 0
fi
start=$SECONDS
for t in test_linear test_cpu_peaks; do
  out="$("$qemu" -cpu Haswell-noTSX "build/native/tests/$t" 2>&1)" || { echo "$out" >&2; echo "avx2-only: $t failed on the emulated Haswell" >&2; exit 1; }
  echo "avx2-only: $t on the emulated Haswell: $(echo "$out" | tail -1)" >&2
done
# The prebuilt addon as `npm install` ships it loads on the Haswell, sees no AVX-512 or AMX and
# picks the AVX2 kernel.
"$qemu" -cpu Haswell-noTSX "$(command -v node)" --input-type=module -e "
import { runtimeInfo } from './dist/runtime.js';
const info = runtimeInfo();
if (info.cpuKernel !== 'avx2-fma' || /avx512|amx/.test(info.cpuFeatures)) throw new Error('on a Haswell: ' + info.cpuKernel + ' / ' + info.cpuFeatures);
console.error('avx2-only: the addon on the emulated Haswell: kernel ' + info.cpuKernel + ', features \"' + info.cpuFeatures + '\"');
"
# And the whole CPU pipeline (sharp, ONNX Runtime, the core) on the Haswell: the demo's segment
# gives the same mask, byte for byte, as on this machine's own CPU.
[ -f models/demo/hrseg.json ] || npm run -s demo:model >/dev/null
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
args=(dist/cli.js segment examples/shapes.png "the red shape" --model models/demo --form phrase)
node "${args[@]}" --out "$tmp/native.png" >/dev/null
"$qemu" -cpu Haswell-noTSX "$(command -v node)" "${args[@]}" --out "$tmp/haswell.png" >/dev/null
cmp "$tmp/native.png" "$tmp/haswell.png" || { echo "avx2-only: the demo's mask differs on the emulated Haswell" >&2; exit 1; }
echo "avx2-only: the demo's segment on the emulated Haswell: the same mask as on this CPU" >&2
echo "avx2-only: done in $((SECONDS - start)) s" >&2
