#!/usr/bin/env bash
# Installs the peers of `npm run bench:peers` OUTSIDE the repo (issue #35):
#   - a Python venv with PyTorch 2.13 (CPU build), the official segment-anything 1.0,
#     transformers (Dinov2Model, LlamaForCausalLM) and gguf (writes the Q4_0 GGUF);
#   - node-llama-cpp with its prebuilt llama.cpp CPU binary (the npm package @node-llama-cpp/linux-x64).
# Nothing here touches the repo's package.json or package-lock.json: CI never sees the peers.
# Every package is pinned with its hash: requirements.lock (pip --require-hashes, sha256 of each
# wheel) and node/package-lock.json (sha512 integrity), so a rerun measures the same peers.
#
#   bash scripts/bench/peers/install.sh        (HRSEG_PEERS_DIR overrides ~/.cache/hrseg)
#
# Measured on the 2-core development VM: ~80 s, 1.2 GB (venv) + 85 MB (node-llama-cpp).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="${HRSEG_PEERS_DIR:-$HOME/.cache/hrseg}"
VENV="$ROOT/peers-venv"
NODE_DIR="$ROOT/peers-node"
PYTHON="${PYTHON:-python3.11}" # the lock's wheels are CPython 3.11's

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
# torch==2.13.0+cpu: PyTorch's CPU build (the plain manylinux wheel pulls ~3 GB of CUDA libraries
# this benchmark never loads). No torchvision: its wheels here are CUDA builds whose ops do not
# load beside torch's CPU build; segment-anything needs only batched_nms, box_area and a resize
# from it, which torch_peers.py provides in plain torch. --no-deps: the lock is the whole set.
"$VENV/bin/pip" install --no-cache-dir --disable-pip-version-check --no-deps --require-hashes \
  -r "$HERE/requirements.lock"
# (segment_anything itself imports torchvision: torch_peers.py shims it before importing it.)
"$VENV/bin/python" -c 'import torch, transformers, gguf; print("torch", torch.__version__, "transformers", transformers.__version__)'

mkdir -p "$NODE_DIR"
cp "$HERE/node/package.json" "$HERE/node/package-lock.json" "$NODE_DIR/"
# --ignore-scripts: node-llama-cpp's postinstall would try to download or build llama.cpp; its
# prebuilt CPU binary is the npm package @node-llama-cpp/linux-x64, named in package.json so that
# --omit=optional leaves out the CUDA and Vulkan builds (~600 MB this benchmark never loads).
# npm install, not npm ci: the registry here serves no 3.22.1 of the macOS, Windows and riscv64
# builds, so the lock lacks them and npm ci refuses it; npm install follows the lock's versions
# and integrity hashes for everything it installs.
(cd "$NODE_DIR" && npm install --no-audit --no-fund --ignore-scripts --omit=optional)
echo "peers installed: $VENV, $NODE_DIR"
