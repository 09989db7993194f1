#!/usr/bin/env bash
# Installs the pinned CUDA 12.4 toolchain that builds the CUDA 12 flavour of the addon (docs/cuda.md
# "Two CUDA flavours") outside the repository, and prints its folder:
#   bash scripts/cuda12/install-toolchain.sh   → ${XDG_CACHE_HOME:-~/.cache}/hrseg/cuda-12.4
# Idempotent: a folder already installed is printed without downloading anything.
#
# Where it comes from: Debian trixie's nvidia-cuda-toolkit 12.4.131 (non-free), the same nvcc, headers,
# libcudart_static.a and CCCL 2.3.2 a Debian user gets. The .debs are fetched by their pool path and
# checked against the SHA256 pinned below (taken from trixie's signed Packages index), then unpacked
# with `dpkg -x`: nothing is installed system-wide. That matters: installing nvidia-cuda-toolkit with
# apt would pull libcuda1 (the driver's user-space library) and end the "no NVIDIA driver" state the
# tests rely on (test/runtime.test.ts). If trixie's pool moves on to another build, the script
# tries snapshot.debian.org's archive of 2025-09-01 for the same files (the same SHA256 checked;
# that host could not be reached from the machine this was written on, so the fallback is
# untested); HRSEG_DEBIAN_MIRROR names another mirror.
#
# Debian's layout is relocated so that CMake (3.25) accepts it as a toolkit root: nvcc.profile is
# rewritten with paths relative to nvcc (Debian's names /usr), and nvvm/libdevice is where
# CMake's CUDA detection looks for it.
set -euo pipefail
cache="${XDG_CACHE_HOME:-$HOME/.cache}/hrseg"
dest="$cache/cuda-12.4"
if [ -x "$dest/bin/nvcc" ] && [ -f "$dest/.complete" ]; then
  echo "$dest"
  exit 0
fi
mirror="${HRSEG_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
snapshot="https://snapshot.debian.org/archive/debian/20250901T000000Z"
# pool path, SHA256 (trixie main/contrib/non-free amd64 Packages).
debs=(
  "pool/non-free/n/nvidia-cuda-toolkit/nvidia-cuda-toolkit_12.4.131~12.4.1-2_amd64.deb cd5fe85aee38d108b315f408a688641478f2402622a10c677478eb7a6c4e5319"
  "pool/non-free/n/nvidia-cuda-toolkit/nvidia-cuda-dev_12.4.127~12.4.1-2_amd64.deb d846838f914a0176948d48a8bcade5d6dbcccb5c9374343f6475f5503f173ee0"
  "pool/non-free/n/nvidia-cuda-toolkit/libnvvm4_12.4.131~12.4.1-2_amd64.deb 3c905c1df7453e1ad477516c4465629c310d2f58a796d66f44070dc289e7ec12"
  "pool/non-free/n/nvidia-cuda-toolkit/libcudart12_12.4.127~12.4.1-2_amd64.deb 361b3721cf84bf068e111ff013c819de61cb475268b0d38db99839471f1b4130"
  "pool/main/c/cccl/libcu++-dev_2.3.2-2_all.deb 30e911c1909265591b5ea793df0e49e56bed631238b68b3e75c97590c4985686"
  "pool/main/c/cccl/libcub-dev_2.3.2-2_all.deb 4a7e7c24ef2994140e47dba59507db60e281f968f17c18cf1cadc9c27c17c26b"
  "pool/main/c/cccl/libthrust-dev_2.3.2-2_all.deb 61fe44b65834efad9b079452ebec7396d4b37712d251421f4218b3bc652a3147"
)
downloads="$cache/cuda-12.4-debs"
mkdir -p "$downloads"
echo "install-toolchain: CUDA 12.4 from Debian trixie (about 1 GB to download, 2.7 GB unpacked)" >&2
for entry in "${debs[@]}"; do
  path="${entry% *}"
  sum="${entry##* }"
  file="$downloads/$(basename "$path")"
  if [ -f "$file" ] && echo "$sum  $file" | sha256sum -c --quiet - 2>/dev/null; then continue; fi
  rm -f "$file"
  curl -fsSL --retry 3 -o "$file.partial" "$mirror/$path" ||
    curl -fsSL --retry 3 -o "$file.partial" "$snapshot/$path"
  if ! echo "$sum  $file.partial" | sha256sum -c --quiet -; then
    echo "install-toolchain: $(basename "$path") does not match its pinned SHA256" >&2
    rm -f "$file.partial"
    exit 1
  fi
  mv "$file.partial" "$file"
done

partial="$dest.partial"
rm -rf "$partial" "$dest"
mkdir -p "$partial/root"
for entry in "${debs[@]}"; do
  dpkg -x "$downloads/$(basename "${entry% *}")" "$partial/root"
done
# A CUDA-toolkit-shaped tree over Debian's: bin (nvcc and its tools), include, lib64, nvvm.
r="$partial/root"
tk="$r/usr/lib/nvidia-cuda-toolkit"
mkdir -p "$partial/bin" "$partial/lib64" "$partial/nvvm/lib64" "$partial/nvvm/bin"
for tool in "$tk"/bin/* "$r"/usr/bin/*; do
  # Debian's /usr/bin/nvcc is a link into the toolkit folder, whose copy is taken first. Its gcc and
  # g++ there are wrappers that pick a g++ from Debian's list; nvcc uses the build's host compiler
  # instead (CMAKE_CUDA_HOST_COMPILER, else g++ on PATH), and writes its own nvcc.profile below.
  name="$(basename "$tool")"
  case "$name" in gcc | g++ | nvcc.profile) continue ;; esac
  [ -e "$partial/bin/$name" ] && continue
  cp -rL "$tool" "$partial/bin/$name"
done
ln -s root/usr/include "$partial/include"
# Hard links: the libraries are most of the 2.7 GB, and the unpacked tree stays beside them.
cp -al "$r"/usr/lib/x86_64-linux-gnu/. "$partial/lib64/"
cp -L "$tk"/bin/cicc "$partial/nvvm/bin/cicc"
cp -al "$r"/usr/lib/x86_64-linux-gnu/libnvvm.so* "$partial/nvvm/lib64/"
cp -a "$tk"/libdevice "$partial/nvvm/libdevice"
# nvcc reads nvcc.profile beside itself; Debian's names /usr paths this tree does not have.
cat >"$partial/bin/nvcc.profile" <<'PROFILE'
TOP              = $(_HERE_)/..
NVVMIR_LIBRARY_DIR = $(TOP)/nvvm/libdevice
LD_LIBRARY_PATH += $(TOP)/lib64:$(TOP)/nvvm/lib64:
PATH            += $(TOP)/nvvm/bin:$(_HERE_):
INCLUDES        +=  "-I$(TOP)/include" $(_SPACE_)
LIBRARIES        =+ $(_SPACE_) "-L$(TOP)/lib64" "-L$(TOP)/lib64/stubs"
CUDAFE_FLAGS    +=
PTXAS_FLAGS     +=
PROFILE
touch "$partial/.complete"
mv "$partial" "$dest"
echo "$dest"
