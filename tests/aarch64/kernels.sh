#!/usr/bin/env bash
# tests/unit/test_kernels.c compiled for AArch64 and run under qemu.
#   kernels.sh CLANG QEMU WORKDIR
set -euo pipefail
cc=$1 qemu=$2 work=$3
root=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$work"
"$cc" --target=aarch64-linux-gnu -O2 -std=c17 -D_GNU_SOURCE -march=armv8.2-a -w -I"$root/runtime" \
  "$root/tests/unit/test_kernels.c" -L/usr/lib/aarch64-linux-gnu -lcmocka -lm -o "$work/test_kernels"
exec "$qemu" "$work/test_kernels"
