#!/usr/bin/env bash
# Writes generated/<model>/ for every shipped config, or with --check
# regenerates them into a temporary directory and fails on any difference.
# Run from the source root so the config paths in the headers stay relative.
set -euo pipefail
lmcc=${LMCC:-build/lmcc}
check=0
[ "${1:-}" = "--check" ] && check=1
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
# One MoE config only: each is 2.2 MB of C, most of it the weight table.
for cfg in configs/qwen3/*.yaml configs/qwen3_moe/qwen3-30b-a3b.yaml configs/qwen2/*.yaml configs/qwen1/*.yaml configs/llama/*.yaml configs/gemma3/*.yaml; do
  [ -f "$cfg" ] || continue
  name=$(basename "$cfg" .yaml)
  if [ $check -eq 1 ]; then
    "$lmcc" build "$cfg" --emit-only -o "$tmp/$name" 2>/dev/null
    if ! diff -ru "generated/$name" "$tmp/$name"; then
      echo "generated/$name differs from what lmcc emits now; run scripts/regen-generated.sh and commit" >&2
      status=1
    fi
  else
    rm -rf "generated/$name"
    "$lmcc" build "$cfg" --emit-only -o "generated/$name"
  fi
done
exit $status
