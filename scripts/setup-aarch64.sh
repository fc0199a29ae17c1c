#!/usr/bin/env bash
# Installs what the AArch64 tests (tests/aarch64) need on a Debian x86-64
# machine: qemu's user-mode emulator, the arm64 cross C library, and the
# runtime's libraries (and cmocka) for arm64. This adds arm64 as a dpkg
# architecture, which is why `make test` does not do it by itself; CI does.
# Idempotent: apt is only touched when something is missing.
set -euo pipefail

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive

packages=(
  qemu-user-static gcc-aarch64-linux-gnu libc6-dev-arm64-cross
  libjansson-dev:arm64 libpcre2-dev:arm64 libutf8proc-dev:arm64 libcmocka-dev:arm64
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

added=0
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  echo "setup-aarch64: adding arm64 as a dpkg architecture" >&2
  $sudo dpkg --add-architecture arm64
  added=1
fi
echo "setup-aarch64: installing ${missing[*]}" >&2
if ! { $sudo apt-get update -qq && $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; }; then
  # Leave apt as it was: an arm64 architecture the mirror cannot serve
  # would make every later apt-get update fail.
  if [ "$added" -eq 1 ]; then
    $sudo dpkg --remove-architecture arm64 || true
    $sudo apt-get update -qq || true
  fi
  echo "setup-aarch64: error: could not install the arm64 packages" >&2
  exit 1
fi
