#!/usr/bin/env bash
# Installs what cross-builds and emulates the linux-arm64 prebuild on an x86-64 Debian 12 machine
# (docs/arm64.md), pinned, and prints its folder:
#   bash scripts/arm64/install-toolchain.sh   → ${XDG_CACHE_HOME:-~/.cache}/hrseg/arm64
# Idempotent: a folder already installed is printed without downloading anything.
#
#   - the cross compiler: Debian 12's g++-aarch64-linux-gnu (GCC 12.2), with apt-get at a pinned
#     version (the one system-wide install: Debian's cross gcc is packaged for its own fixed paths,
#     /usr/aarch64-linux-gnu and /usr/lib/gcc-cross; unpacking it elsewhere was not tried);
#   - qemu-user: Debian trixie's qemu-user 10.0 (static binaries, unpacked, not installed, so no
#     binfmt handler is registered: the tests call qemu-aarch64 explicitly). Not bookworm's 7.2:
#     onnxruntime-node's arm64 build dies of SIGSEGV under it in its CPU detection (right after
#     reading the host's CPU topology), and loads under 10.0;
#   - an arm64 root for qemu (sysroot/): Debian trixie's arm64 Node.js 20.19.2 (the package needs
#     Node >= 20.19; bookworm's is 18) with its shared libraries and glibc 2.41, unpacked;
#   - the CUDA runtimes for aarch64, from PyPI: nvidia-cuda-runtime 13.0.88 (linux aarch64, the
#     SBSA build, matching the CUDA 13.0.88 nvcc on this machine), whose libcudart_static.a the
#     CUDA 13 flavour links; and nvidia-cuda-runtime-cu12 12.4.127 (aarch64), whose
#     libcudart.so.12 the CUDA 12 flavour links against by name (it loads the system's at run
#     time: docs/arm64.md "CUDA runtimes"). cuda-13.0/ and cuda-12.4/ are toolkit-shaped folders
#     over this machine's CUDA 13.0 and the project's CUDA 12.4 (scripts/cuda12/install-toolchain.sh,
#     run first): their nvcc and headers (the same for every target), with those libraries as
#     their aarch64 target (targets/aarch64-linux).
# Every .deb and the wheel are checked against the SHA256 pinned below (from the Debian Packages
# indexes and PyPI). Debian's pool keeps only a suite's current versions: when one of these is
# superseded, the download fails and the pin must be moved (HRSEG_DEBIAN_MIRROR names another
# mirror).
set -euo pipefail
cache="${XDG_CACHE_HOME:-$HOME/.cache}/hrseg"
dest="$cache/arm64"
# The folder records which version of this script made it: a change of pins reinstalls.
stamp="$(sha256sum "$0" | cut -c1-16)"
if [ "$(cat "$dest/.complete" 2>/dev/null)" = "$stamp" ] && command -v aarch64-linux-gnu-g++ >/dev/null; then
  echo "$dest"
  exit 0
fi
mirror="${HRSEG_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

cross_version="4:12.2.0-3"
if ! dpkg-query -W -f='${Version}' g++-aarch64-linux-gnu 2>/dev/null | grep -qx "$cross_version"; then
  echo "install-toolchain (arm64): apt-get install g++-aarch64-linux-gnu=$cross_version" >&2
  apt-get install -y --no-install-recommends "g++-aarch64-linux-gnu=$cross_version" >&2 ||
    (apt-get update >&2 && apt-get install -y --no-install-recommends "g++-aarch64-linux-gnu=$cross_version" >&2)
fi

# pool path, SHA256, all from trixie (qemu amd64, the rest arm64 and all).
qemu_deb="pool/main/q/qemu/qemu-user_10.0.13+ds-0+deb13u1_amd64.deb ca6ede739327a20ae5a3498230c8a3a9a072c586e131bc6bcc1201eb1725e336"
sysroot_debs=(
  "pool/main/g/glibc/libc6_2.41-12+deb13u5_arm64.deb 0966fc3da1a26cc57647c68b5736f791b6e7eb498173a7993f63b6c89b4ed4f5"
  "pool/main/g/gcc-14/gcc-14-base_14.2.0-19_arm64.deb 34ee90679b018c0e64234747a4c4c0ae6b7f63541115037465a8627c2dfbc594"
  "pool/main/g/gcc-14/libgcc-s1_14.2.0-19_arm64.deb 1108bc87879833d6d9a145f22a4a15cddb34e065b4b5f4b97bee586adbac2851"
  "pool/main/g/gcc-14/libstdc++6_14.2.0-19_arm64.deb 6669b0c52a2e7c6af9adfdabce3ff6e286065cdfbc7b85280862b5f799daebee"
  "pool/main/n/nodejs/nodejs_20.19.2+dfsg-1+deb13u3_arm64.deb a92077b99707d2199342a197a58f4a8aa78b213ff7e0906653c958f42da163e2"
  "pool/main/n/nodejs/libnode115_20.19.2+dfsg-1+deb13u3_arm64.deb 5ac5229d5cb4c2b5fd4416878bea5833e5ad6ef6b01eb228d25ae1f8ca6a15ba"
  "pool/main/b/brotli/libbrotli1_1.1.0-2+deb13u1_arm64.deb a8caceeddd3a407888234ef488e0a773299e05fac703c8695166a0a9bc86587f"
  "pool/main/c/c-ares/libcares2_1.34.9-1~deb13u1_arm64.deb 52720d35356f24b133a15fcc7409b7b4680cc3f1e09a7dede0d02a2ded504171"
  "pool/main/i/icu/libicu76_76.1-4_arm64.deb 62eb15577c881b7d02aa861e3eb860902335630cc8174daf525b48c2fa39298f"
  "pool/main/n/nghttp2/libnghttp2-14_1.64.0-1.1+deb13u2_arm64.deb 968f022ccb34f89c7ac4df0567b4d916f05f9235ad39fe2cf1ab6a12bacf5d80"
  "pool/main/o/openssl/libssl3t64_3.5.9-1~deb13u1_arm64.deb 18edc2b123e8e81efcc14ea5502454b4505285aa9d3325c22315e9304acb25ca"
  "pool/main/libu/libuv1/libuv1t64_1.50.0-2_arm64.deb a9be0f24d7686ba94a6ef4f3c638079c6b39c4263306860d51046c4125d065f4"
  "pool/main/libz/libzstd/libzstd1_1.5.7+dfsg-1_arm64.deb 924540bd59fdbfa77a0604360efdaca54411a43daf11c7e002a3c64791b67448"
  "pool/main/z/zlib/zlib1g_1.3.dfsg+really1.3.1-1+deb13u1_arm64.deb 0e41b3d7ad8ad7fcd36dd4d61ca91a70018478fc4af652e044f4be770784ddff"
  # Debian's Node loads these from /usr/share/nodejs instead of its bundled copies.
  "pool/main/a/acorn/node-acorn_8.8.1+ds+~cs25.17.7-2_all.deb 5c6814cf6536892b3a93cc72a0a3792beb0d3f6be3d69f499ca7d764583479a9"
  "pool/main/n/node-balanced-match/node-balanced-match_2.0.0-1_all.deb 98a1c466bff6baf6780c4b765ec665e684424bf7907439939b5fb1160ede039c"
  "pool/main/n/node-brace-expansion/node-brace-expansion_2.0.1+~1.1.0-2_all.deb c06d940bf95617cfd5c5ccbf0bf2ea864f41f36f317f21b4c8b21a3bf9668821"
  "pool/main/n/node-cjs-module-lexer/node-cjs-module-lexer_1.2.3+dfsg-1_all.deb db5edbd534306c633cd8c0639adb9fc723ec5c6961eee9f9721475db74474959"
  "pool/main/n/node-corepack/node-corepack_0.24.0-5_all.deb 76fc252799fe76c1dcd63d95cc556e11d5ac226902cf41c1963a2a45f830efa0"
  "pool/main/n/node-minimatch/node-minimatch_9.0.3-6_all.deb 732998416eadffcdbf4e7e697200eb28d42963d1540fff2a3b485b5499805db6"
  "pool/main/n/node-undici/node-undici_7.3.0+dfsg1+~cs24.12.11-1_all.deb 7f10cf9c79cf4dae6c1117ca1c8181d2d4d184b82bbd59dd0eeec554994161c4"
  "pool/main/n/node-xtend/node-xtend_4.0.2-3_all.deb c64e37fbea40de012b59adbfa61e703b52c12713f34cbfd2d4049ebcc549f270"
)
wheel="nvidia_cuda_runtime-13.0.88-py3-none-manylinux2014_aarch64.manylinux_2_17_aarch64.whl"
wheel_sum="8ba16a33998ee3ee2bf11c8f13e36e3ff86a1d6ad165ffeee863d6eabd0b5f67"
wheel12="nvidia_cuda_runtime_cu12-12.4.127-py3-none-manylinux2014_aarch64.whl"
wheel12_sum="961fe0e2e716a2a1d967aab7caee97512f71767f852f67432d572e36cb3a11f3"
cuda12="$(bash "$(dirname "$0")/../cuda12/install-toolchain.sh")"

downloads="$cache/arm64-downloads"
mkdir -p "$downloads"
fetch() { # pool path, sha256
  local file="$downloads/$(basename "$1")"
  if [ -f "$file" ] && echo "$2  $file" | sha256sum -c --quiet - 2>/dev/null; then return; fi
  curl -fsSL --retry 3 -o "$file.partial" "$mirror/$1"
  if ! echo "$2  $file.partial" | sha256sum -c --quiet -; then
    echo "install-toolchain (arm64): $(basename "$1") does not match its pinned SHA256" >&2
    rm -f "$file.partial"
    exit 1
  fi
  mv "$file.partial" "$file"
}
echo "install-toolchain (arm64): qemu-user, Debian trixie's arm64 Node.js, the aarch64 CUDA runtime (about 100 MB)" >&2
fetch ${qemu_deb}
for entry in "${sysroot_debs[@]}"; do fetch ${entry}; done
fetch_wheel() { # file, sha256, requirement
  if [ -f "$downloads/$1" ] && echo "$2  $downloads/$1" | sha256sum -c --quiet - 2>/dev/null; then return; fi
  python3 -m pip download --quiet --no-deps --only-binary=:all: --platform manylinux2014_aarch64 \
    --python-version 3.11 "$3" -d "$downloads" >&2
  echo "$2  $downloads/$1" | sha256sum -c --quiet -
}
fetch_wheel "$wheel" "$wheel_sum" "nvidia-cuda-runtime==13.0.88"
fetch_wheel "$wheel12" "$wheel12_sum" "nvidia-cuda-runtime-cu12==12.4.127"

# The host's CUDA 13.0 (nvcc and headers are the same for every target architecture).
cuda="${CUDA_HOME:-/usr/local/cuda}"
if [ ! -x "$cuda/bin/nvcc" ] || ! "$cuda/bin/nvcc" --version | grep -q "release 13.0"; then
  echo "install-toolchain (arm64): no CUDA 13.0 nvcc at $cuda (set CUDA_HOME)" >&2
  exit 1
fi
cuda="$(cd "$cuda" && pwd -P)"

partial="$dest.partial"
rm -rf "$partial" "$dest"
mkdir -p "$partial/qemu" "$partial/sysroot"
dpkg -x "$downloads/$(basename "${qemu_deb% *}")" "$partial/qemu"
for entry in "${sysroot_debs[@]}"; do dpkg -x "$downloads/$(basename "${entry% *}")" "$partial/sysroot"; done
# Merged /usr, as a Debian 13 root has it (base-files makes these links, and is not unpacked here):
# the dynamic loader is looked up as /lib/ld-linux-aarch64.so.1.
ln -s usr/lib "$partial/sysroot/lib"
ln -s usr/bin "$partial/sysroot/bin"

# cuda-13.0/: nvcc reads nvcc.profile beside itself (its own path, links resolved) and finds the
# target's headers and libraries in $TOP/targets/<-target-dir>: a copy of nvcc and its profile,
# links to everything else, and targets/aarch64-linux with the wheel's libraries.
t="$partial/cuda-13.0"
mkdir -p "$t/bin" "$t/targets/aarch64-linux/lib"
for f in "$cuda"/bin/*; do
  case "$(basename "$f")" in
    nvcc | nvcc.profile) cp -a "$f" "$t/bin/" ;;
    *) ln -s "$f" "$t/bin/$(basename "$f")" ;;
  esac
done
ln -s "$cuda/nvvm" "$t/nvvm"
ln -s "$cuda/targets/x86_64-linux" "$t/targets/x86_64-linux"
ln -s "$cuda/targets/x86_64-linux/include" "$t/targets/aarch64-linux/include"
[ -d "$cuda/lib64" ] && ln -s "$cuda/lib64" "$t/lib64"
(cd "$partial" && python3 -m zipfile -e "$downloads/$wheel" wheel)
cp "$partial"/wheel/nvidia/cu13/lib/{libcudart_static.a,libcudadevrt.a,libcudart.so.13} "$t/targets/aarch64-linux/lib/"
ln -s libcudart.so.13 "$t/targets/aarch64-linux/lib/libcudart.so"
rm -rf "$partial/wheel"

# cuda-12.4/: the same over the CUDA 12.4 toolchain, whose nvcc.profile names $TOP/include and
# $TOP/lib64 (scripts/cuda12/install-toolchain.sh writes it so). lib64 holds the wheel's
# libcudart.so.12, an empty libcudadevrt.a (nvcc links it by default; only relocatable device
# code uses it, which hrseg has none of), and a libcudart_static.a that is a linker script naming
# libcudart.so.12: native/cuda links CUDA::cudart_static, and with this file the CUDA 12 flavour
# records a dependency on libcudart.so.12 instead (GNU ld reads a linker script wherever it
# expects a library, as it does for glibc's libc.so).
t="$partial/cuda-12.4"
mkdir -p "$t/bin" "$t/lib64" "$t/targets/aarch64-linux"
for f in "$cuda12"/bin/*; do
  case "$(basename "$f")" in
    nvcc) cp -a "$f" "$t/bin/" ;;
    nvcc.profile) ;;
    *) ln -s "$f" "$t/bin/$(basename "$f")" ;;
  esac
done
cat >"$t/bin/nvcc.profile" <<'PROFILE'
TOP              = $(_HERE_)/..
NVVMIR_LIBRARY_DIR = $(TOP)/nvvm/libdevice
LD_LIBRARY_PATH += $(TOP)/nvvm/lib64:
PATH            += $(TOP)/nvvm/bin:$(_HERE_):
INCLUDES        +=  "-I$(TOP)/include" $(_SPACE_)
LIBRARIES        =+ $(_SPACE_) "-L$(TOP)/lib64"
CUDAFE_FLAGS    +=
PTXAS_FLAGS     +=
PROFILE
ln -s "$cuda12/nvvm" "$t/nvvm"
ln -s "$cuda12/include" "$t/include"
(cd "$partial" && python3 -m zipfile -e "$downloads/$wheel12" wheel12)
cp "$partial/wheel12/nvidia/cuda_runtime/lib/libcudart.so.12" "$t/lib64/"
ln -s libcudart.so.12 "$t/lib64/libcudart.so"
printf '/* hrseg: the CUDA 12 flavour for aarch64 links the CUDA runtime by name (docs/arm64.md). */\nINPUT(libcudart.so.12)\n' >"$t/lib64/libcudart_static.a"
aarch64-linux-gnu-ar rc "$t/lib64/libcudadevrt.a"
# CMake's CUDA support, cross-compiling, looks for the target's files in targets/aarch64-linux.
ln -s ../../include "$t/targets/aarch64-linux/include"
ln -s ../../lib64 "$t/targets/aarch64-linux/lib"
rm -rf "$partial/wheel12"
echo "$stamp" >"$partial/.complete"
mv "$partial" "$dest"
echo "$dest"
