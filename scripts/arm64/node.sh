#!/bin/sh
# Debian's arm64 Node.js under qemu-user, with the arm64 root scripts/arm64/install-toolchain.sh
# unpacked: `sh scripts/arm64/node.sh file.js` runs like `node file.js` on an arm64 machine (no
# binfmt handler needed). HRSEG_ARM64_ROOT overrides ~/.cache/hrseg/arm64.
root="${HRSEG_ARM64_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/hrseg/arm64}"
exec "$root/qemu/usr/bin/qemu-aarch64" -L "$root/sysroot" "$root/sysroot/usr/bin/node" "$@"
