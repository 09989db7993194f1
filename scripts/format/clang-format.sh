#!/usr/bin/env bash
# clang-format over native/, pinned (PyPI's clang-format wheel, installed outside the repository).
#   bash scripts/format/clang-format.sh          → rewrites the files in place
#   bash scripts/format/clang-format.sh --check  → lists files that differ, exits 1 if any
set -euo pipefail
cd "$(dirname "$0")/../.."
version=21.1.8
venv="${XDG_CACHE_HOME:-$HOME/.cache}/hrseg/clang-format-$version"
if [ ! -x "$venv/bin/clang-format" ]; then
  echo "clang-format: installing clang-format $version into $venv" >&2
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet "clang-format==$version" >&2
fi
mapfile -t files < <(git ls-files 'native/*.cc' 'native/*.h' 'native/*.cu' 'native/*.cuh')
if [ "${1:-}" = --check ]; then
  "$venv/bin/clang-format" --dry-run -Werror "${files[@]}" 2>&1 | grep -o '^native/[^:]*' | sort -u | sed 's/^/not formatted: /' >&2 || true
  "$venv/bin/clang-format" --dry-run -Werror "${files[@]}" >/dev/null 2>&1 || { echo "clang-format: run npm run format" >&2; exit 1; }
  echo "clang-format: ${#files[@]} native files formatted"
else
  "$venv/bin/clang-format" -i "${files[@]}"
fi
