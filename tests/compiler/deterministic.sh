#!/usr/bin/env bash
# Emits the same config twice into different directories; the files must be
# byte-identical (no timestamps, no paths of the output, no hash order).
set -euo pipefail
lmcc=$1 work=$2
rm -rf "$work"
for cfg in configs/test/qwen3-tiny.yaml configs/qwen3/qwen3-8b.yaml; do
  "$lmcc" build "$cfg" --emit-only -o "$work/a" 2>/dev/null
  "$lmcc" build "$cfg" --emit-only -o "$work/b" 2>/dev/null
  diff -r "$work/a" "$work/b"
  rm -rf "$work/a" "$work/b"
done
echo "deterministic: ok"
