#!/usr/bin/env bash
# Installs a real Triton Inference Server (2.51.0, python backend, CPU) outside the repository, for
# the tests against it (test/triton.test.ts) and `npm run bench:triton`. Idempotent.
#   bash scripts/triton/install.sh      → prints the folder; in it:
#     bin/tritonserver, lib/ (its shared libraries), backends/python/ (with the Python 3.11 stub),
#     venv/ (ONNX Runtime and numpy for the models' model.py), env.sh (the variables to run it:
#     LD_LIBRARY_PATH, HRSEG_TRITON_PYTHONPATH, HRSEG_TRITON_BACKENDS)
# The folder is $HRSEG_TRITON_HOME, or ~/.cache/hrseg/pytriton-0.7.0 by default; the tests look
# there too. Needs python3.11 with its shared libpython (the stub links against it).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dest="${HRSEG_TRITON_HOME:-${XDG_CACHE_HOME:-$HOME/.cache}/hrseg/pytriton-0.7.0}"
# The venv is redone when the pinned model requirements change (a copy of them marks the install).
if [ -x "$dest/bin/tritonserver" ] && [ -f "$dest/env.sh" ] && cmp -s "$here/requirements-models.txt" "$dest/requirements-models.txt"; then
  echo "$dest"
  exit 0
fi
py="$(command -v python3.11 || true)"
[ -n "$py" ] || { echo "triton/install: python3.11 is needed (the wheel's python backend stub is built for it)" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "triton/install: downloading nvidia-pytriton 0.7.0 (55 MB, tritonserver 2.51.0) from PyPI" >&2
"$py" -m pip download --quiet --no-deps --only-binary=:all: --require-hashes \
  --platform manylinux_2_35_x86_64 --python-version 3.11 \
  -r "$here/requirements-server.txt" -d "$work" >&2
partial="$dest.partial"
rm -rf "$partial"
mkdir -p "$partial"
"$py" - "$work" "$partial" <<'PY'
import os, pathlib, shutil, stat, sys, zipfile
work, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
wheel = next(work.glob('*.whl'))
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.endswith('/'):
            continue
        if name.startswith('nvidia_pytriton.libs/'):
            target = out / 'lib' / pathlib.Path(name).name
        elif name.startswith('pytriton/tritonserver/bin/'):
            target = out / 'bin' / pathlib.Path(name).name
        elif name.startswith('pytriton/tritonserver/backends/python/'):
            target = out / 'backends' / 'python' / pathlib.Path(name).name
        elif name == 'pytriton/tritonserver/python_backend_stubs/3.11/triton_python_backend_stub':
            # The stub must sit beside libtriton_python.so: the backend looks for it there.
            target = out / 'backends' / 'python' / 'triton_python_backend_stub'
        else:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(z.read(name))
for exe in [out / 'bin' / 'tritonserver', out / 'backends' / 'python' / 'triton_python_backend_stub']:
    if not exe.exists():
        sys.exit(f'triton/install: {wheel.name} holds no {exe.name}')
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
PY
echo "triton/install: a venv with ONNX Runtime for the python-backend models" >&2
"$py" -m venv "$partial/venv"
"$partial/venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements-models.txt" >&2
site="$("$partial/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
pylib="$("$py" -c 'import sysconfig; print(sysconfig.get_config_var("LIBDIR"))')"
# The paths inside are the final folder's: written before the rename, read after it.
site="${site/#$partial/$dest}"
cat > "$partial/env.sh" <<ENV
# Sourced (or read by test/helpers/triton.ts) before running bin/tritonserver.
export LD_LIBRARY_PATH="$dest/lib:$pylib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
# The python backend's embedded interpreter ignores PYTHONPATH: the generated model.py adds this.
export HRSEG_TRITON_PYTHONPATH="$site"
export HRSEG_TRITON_BACKENDS="$dest/backends"
ENV
cp "$here/requirements-models.txt" "$partial/"
rm -rf "$dest"
mv "$partial" "$dest"
echo "$dest"
