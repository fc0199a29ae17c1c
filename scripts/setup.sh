#!/usr/bin/env bash
# Installs the Debian packages lmcc needs to build, test and benchmark.
# Idempotent: packages already present are not reinstalled, and apt is only
# touched when something is missing.
set -euo pipefail

# clang-19 (Debian 12's newest, the design's compiler for lmcc and for the
# models it compiles) with its sanitizer runtime and libFuzzer (make fuzz);
# CMakeLists.txt picks it over any older clang.
packages=(
  build-essential cmake pkg-config clang-19 libclang-rt-19-dev libfuzzer-19-dev
  libyaml-dev liblua5.4-dev libjansson-dev libmicrohttpd-dev libcmocka-dev
  libpcre2-dev libutf8proc-dev libcurl4-openssl-dev libssl-dev
  python3 python3-numpy python3-torch python3-jinja2
  ca-certificates curl
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

# Node.js may come from elsewhere (nodesource bundles npm and conflicts with
# Debian's npm package), so ask for the commands, not the packages.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "setup: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
