#!/usr/bin/env bash
# Installs TensorRT 11.1's lean runtime (pinned and hash-checked in requirements.txt) outside the
# repository, for the C++ tests against the real library (test_trt_real). Idempotent.
#   bash scripts/tensorrt/install-libs.sh      → prints the folder holding libnvinfer_lean.so.11
# The folder is $HRSEG_TENSORRT_LIBS, or ~/.cache/hrseg/tensorrt-lean-11.1.0.106 by default; the
# tests look there too.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dest="${HRSEG_TENSORRT_LIBS:-${XDG_CACHE_HOME:-$HOME/.cache}/hrseg/tensorrt-lean-11.1.0.106}"
if [ -f "$dest/libnvinfer_lean.so.11" ]; then
  echo "$dest"
  exit 0
fi
command -v python3 >/dev/null || { echo "install-libs: python3 (with pip) is needed to fetch the wheel" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "install-libs: downloading TensorRT 11.1 lean runtime (44 MB) from PyPI" >&2
python3 -m pip download --quiet --no-deps --only-binary=:all: --require-hashes \
  --platform manylinux_2_28_x86_64 --python-version 3.11 \
  -r "$here/requirements.txt" -d "$work" >&2
python3 - "$work" "$dest" <<'PY'
import pathlib, sys, zipfile
work, dest = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
wheel = next(work.glob('*.whl'))
partial = dest.with_name(dest.name + '.partial')
partial.mkdir(parents=True, exist_ok=True)
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if '/lib' in name and '.so' in name:
            target = partial / pathlib.Path(name).name
            target.write_bytes(z.read(name))
if not (partial / 'libnvinfer_lean.so.11').exists():
    sys.exit(f'install-libs: {wheel.name} holds no libnvinfer_lean.so.11')
partial.rename(dest)
PY
echo "$dest"
