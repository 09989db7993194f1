#!/usr/bin/env bash
# Installs the TensorRT lean runtimes pinned and hash-checked in requirements.txt (11.1, 11.4 and
# 10.16.1) outside the repository, for the tests against the real library (test_trt_real,
# test_trt10_real, test/tensorrt-real.test.ts). Idempotent: a runtime already installed is not
# downloaded again.
#   bash scripts/tensorrt/install-libs.sh            → prints one folder per runtime
#   bash scripts/tensorrt/install-libs.sh 10.16.1.11 → only that one
# Each goes to ${XDG_CACHE_HOME:-~/.cache}/hrseg/tensorrt-lean-<version>, where the tests look.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache="${XDG_CACHE_HOME:-$HOME/.cache}/hrseg"
# "package==version" and its hash line, one requirement per line.
mapfile -t pins < <(python3 - "$here/requirements.txt" <<'PY'
import re, sys
text = re.sub(r'\\\n\s*', ' ', open(sys.argv[1]).read())
for line in text.splitlines():
    line = line.split('#', 1)[0].strip()
    if line:
        print(line)
PY
)
wanted=("$@")
missing=()
for pin in "${pins[@]}"; do
  version="${pin%% *}"
  version="${version##*==}"
  if [ "${#wanted[@]}" -gt 0 ] && [[ ! " ${wanted[*]} " == *" $version "* ]]; then continue; fi
  dest="$cache/tensorrt-lean-$version"
  if ls "$dest"/libnvinfer_lean.so.* >/dev/null 2>&1; then
    echo "$dest"
  else
    missing+=("$pin")
  fi
done
[ "${#missing[@]}" -eq 0 ] && exit 0
command -v python3 >/dev/null || { echo "install-libs: python3 (with pip) is needed to fetch the wheels" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "install-libs: downloading ${#missing[@]} TensorRT lean runtime(s) (about 45 MB each) from PyPI" >&2
# One download per pin: pip's resolver refuses two versions of one project (11.1 and 11.4) in one
# requirements file, --no-deps or not.
for pin in "${missing[@]}"; do
  printf '%s\n' "$pin" >"$work/requirements.txt"
  python3 -m pip download --quiet --no-deps --only-binary=:all: --require-hashes \
    --platform manylinux_2_28_x86_64 --python-version 3.11 \
    -r "$work/requirements.txt" -d "$work/wheels" >&2
done
python3 - "$work/wheels" "$cache" <<'PY'
import pathlib, sys, zipfile
work, cache = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for wheel in sorted(work.glob('*.whl')):
    version = wheel.name.split('-')[1]
    major = version.split('.')[0]
    dest = cache / f'tensorrt-lean-{version}'
    partial = dest.with_name(dest.name + '.partial')
    partial.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            if '/lib' in name and '.so' in name:
                (partial / pathlib.Path(name).name).write_bytes(z.read(name))
    if not (partial / f'libnvinfer_lean.so.{major}').exists():
        sys.exit(f'install-libs: {wheel.name} holds no libnvinfer_lean.so.{major}')
    partial.rename(dest)
    print(dest)
PY
