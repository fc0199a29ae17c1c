#!/usr/bin/env bash
# The numerics defaults (DESIGN.md): a bf16 build rounds the linears' inputs
# and the KV cache to bf16 unless told otherwise; a bf16 model built as q8_0
# or q4_0 keeps a bf16 KV cache (its linears take int8 inputs); f32 builds,
# quantized or not, keep both f32. Each default must emit exactly what its explicit options emit,
# and differ from the other choice.
set -euo pipefail
lmcc=$1 work=$2
rm -rf "$work"
emit() { # out config [options...]
  local out=$1 cfg=$2
  shift 2
  "$lmcc" build "$cfg" --emit-only --name m -o "$work/$out" "$@" 2>/dev/null
}
same() { diff -r "$work/$1" "$work/$2" > /dev/null || { echo "defaults: $3: $1 and $2 differ" >&2; exit 1; }; }
differ() { ! diff -r "$work/$1" "$work/$2" > /dev/null || { echo "defaults: $3: $1 and $2 are the same" >&2; exit 1; }; }

bf16=configs/test/qwen3-tiny-untied-bf16.yaml
emit bf16-default "$bf16"
emit bf16-explicit "$bf16" --matmul-input bf16 --kv-dtype bf16
emit bf16-f32 "$bf16" --matmul-input f32 --kv-dtype f32
same bf16-default bf16-explicit "a bf16 build rounds by default"
differ bf16-default bf16-f32 "--matmul-input f32 --kv-dtype f32 keep a bf16 build f32"
grep -q '"bf16"' "$work/bf16-default/m.c" || { echo "defaults: no bf16 matmul input named in m.c" >&2; exit 1; }

f32=configs/test/qwen3-tiny.yaml
emit f32-default "$f32"
emit f32-explicit "$f32" --matmul-input f32 --kv-dtype f32
same f32-default f32-explicit "an f32 build stays f32"

emit q8-default "$bf16" --dtype q8_0
emit q8-explicit "$bf16" --dtype q8_0 --matmul-input f32 --kv-dtype bf16
emit q8-f32kv "$bf16" --dtype q8_0 --kv-dtype f32
same q8-default q8-explicit "a bf16 model at q8_0 keeps a bf16 cache"
differ q8-default q8-f32kv "--kv-dtype f32 keeps a q8_0 build's cache f32"
emit q4-default "$bf16" --dtype q4_0
emit q4-explicit "$bf16" --dtype q4_0 --kv-dtype bf16
same q4-default q4-explicit "a bf16 model at q4_0 keeps a bf16 cache"
emit q4-f32-default "$f32" --dtype q4_0
emit q4-f32-explicit "$f32" --dtype q4_0 --kv-dtype f32
same q4-f32-default q4-f32-explicit "an f32 model at q4_0 keeps an f32 cache"
echo "defaults: ok"
