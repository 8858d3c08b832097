#!/usr/bin/env bash
# System packages the test suite uses: the Xtensa cross toolchain and QEMU
# (kernel cross-compile and instruction counts), clang-22 + LLVM 22 (llc-22,
# llvm-mc-22, llvm-link-22: ESP32 code generation and the xtensawin MicroPython
# module) and the Fashion-MNIST dataset.
# Installs only what is missing; needs root (or sudo) the first time.
set -euo pipefail
need=()
command -v xtensa-lx106-elf-gcc >/dev/null || need+=(gcc-xtensa-lx106 binutils-xtensa-lx106 picolibc-xtensa-lx106-elf)
command -v qemu-system-xtensa   >/dev/null || need+=(qemu-system-misc)
command -v clang-22             >/dev/null || need+=(clang-22)
command -v llc-22               >/dev/null || need+=(llvm-22)
command -v llvm-mc-22           >/dev/null || need+=(llvm-22)
command -v llvm-link-22         >/dev/null || need+=(llvm-22)
[ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] || need+=(dataset-fashion-mnist)
[ ${#need[@]} -eq 0 ] && exit 0
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
echo "installing system packages: ${need[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${need[@]}"
