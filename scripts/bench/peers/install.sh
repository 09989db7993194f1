#!/usr/bin/env bash
# Installs the peers of `npm run bench:peers` OUTSIDE the repo (issue #35):
#   - a Python venv with PyTorch (CPU build), the official segment-anything,
#     transformers (Dinov2Model, LlamaForCausalLM) and gguf (writes the Q4_0 GGUF);
#   - node-llama-cpp with its prebuilt llama.cpp binaries (from npm, @node-llama-cpp/*).
# Nothing here touches the repo's package.json or package-lock.json: CI never sees the peers.
# Versions are pinned so that a rerun measures the same peers; change them here only.
set -euo pipefail

ROOT="${HRSEG_PEERS_DIR:-$HOME/.cache/hrseg}"
VENV="$ROOT/peers-venv"
NODE_DIR="$ROOT/peers-node"
PYTHON="${PYTHON:-python3.11}"

# PyTorch 2.13's CPU build: the default manylinux wheel pulls ~3 GB of CUDA libraries we never use.
TORCH_VERSION="2.13.0+cpu"
SEGMENT_ANYTHING_VERSION="1.0"
TRANSFORMERS_VERSION="5.25.0"
SAFETENSORS_VERSION="0.8.0"
GGUF_VERSION="0.19.0"
NUMPY_VERSION="2.4.6"
NODE_LLAMA_CPP_VERSION="3.22.1"

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/pip" install --no-cache-dir --disable-pip-version-check \
  "torch==$TORCH_VERSION" \
  "segment-anything==$SEGMENT_ANYTHING_VERSION" \
  "transformers==$TRANSFORMERS_VERSION" \
  "safetensors==$SAFETENSORS_VERSION" \
  "gguf==$GGUF_VERSION" \
  "numpy==$NUMPY_VERSION"
# No torchvision: PyPI's and the local wheels of torchvision 0.28 are CUDA builds whose ops do not
# load beside torch's CPU build. segment-anything needs only batched_nms, box_area and a resize from
# it; torch_peers.py provides those in plain torch (see there).
# What was installed, for the report and for a later `pip install -r` with the same set.
"$VENV/bin/pip" freeze --all > "$VENV/peers-freeze.txt"

mkdir -p "$NODE_DIR"
if [ ! -f "$NODE_DIR/package.json" ]; then
  printf '{ "name": "hrseg-peers", "private": true, "type": "module" }\n' > "$NODE_DIR/package.json"
fi
# --ignore-scripts: node-llama-cpp's postinstall would try to download or build llama.cpp; its
# prebuilt CPU binary is the npm package @node-llama-cpp/linux-x64 (named here so that
# --omit=optional leaves out the CUDA and Vulkan builds, ~600 MB this benchmark never loads).
(cd "$NODE_DIR" && npm install --no-audit --no-fund --ignore-scripts --omit=optional --save-exact \
  "node-llama-cpp@$NODE_LLAMA_CPP_VERSION" "@node-llama-cpp/linux-x64@$NODE_LLAMA_CPP_VERSION")
echo "peers installed: $VENV, $NODE_DIR"
