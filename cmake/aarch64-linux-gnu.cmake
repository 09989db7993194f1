# Cross-compiling hrseg for linux-arm64 (aarch64, glibc) on an x86-64 Debian machine:
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake
# scripts/arm64/install-toolchain.sh installs the compiler (Debian's g++-aarch64-linux-gnu, pinned),
# and the arm64 sysroot and qemu-user under ~/.cache/hrseg/arm64; scripts/arm64/build.sh drives
# this file (docs/arm64.md).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
# nvcc compiles the host side of .cu files with the same cross compiler.
set(CMAKE_CUDA_HOST_COMPILER aarch64-linux-gnu-g++)

# Debian's cross compiler has its own target root (/usr/aarch64-linux-gnu): look for libraries and
# headers only there and in the paths given explicitly, never in the x86 system's.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# ctest runs the aarch64 test binaries under qemu-user with the arm64 sysroot (its glibc and
# libstdc++), when the toolchain script installed them.
set(HRSEG_ARM64_ROOT "$ENV{HOME}/.cache/hrseg/arm64")
if(DEFINED ENV{HRSEG_ARM64_ROOT})
  set(HRSEG_ARM64_ROOT "$ENV{HRSEG_ARM64_ROOT}")
endif()
if(EXISTS "${HRSEG_ARM64_ROOT}/qemu/usr/bin/qemu-aarch64")
  set(CMAKE_CROSSCOMPILING_EMULATOR "${HRSEG_ARM64_ROOT}/qemu/usr/bin/qemu-aarch64;-L;${HRSEG_ARM64_ROOT}/sysroot")
endif()
