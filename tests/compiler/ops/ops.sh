#!/usr/bin/env bash
# Gemma 3's non-attention ops through the whole compiler: a test-only
# architecture (gemma_ops.lua, installed in a scratch LMCC_HOME beside the
# real frontend, templates and runtime) is built fused and unfused, its
# emitted C shows where each op went, and its logits match a PyTorch
# reference (gemma_ops_ref.py): f32 within 1e-4; bf16 with bf16 matmul
# inputs within DESIGN.md's rounded-input bounds, its scaled embeddings
# bit for bit; q8_0 twice, the second time from the weight cache, alike.
# Then the script errors the ops give, one line each.
set -euo pipefail
lmcc=$1 work=$2 python=${3:-/usr/bin/python3}
src=$(cd "$(dirname "$0")/../../.." && pwd)
here=$src/tests/compiler/ops
rm -rf "$work" && mkdir -p "$work/home/compiler/archs"
ln -s "$src/compiler/frontend" "$work/home/compiler/frontend"
ln -s "$src/templates" "$work/home/templates"
ln -s "$src/runtime" "$work/home/runtime"
ln -s "$here/gemma_ops.lua" "$work/home/compiler/archs/gemma_ops.lua"
export LMCC_HOME=$work/home LMCC_WEIGHT_CACHE=$work/weight-cache
tokens=3,1,4,1,5,9,2,6,5,3
fail() { echo "ops: $*" >&2; exit 1; }
has() { grep -qF -- "$2" "$1" || fail "$1 lacks '$2'"; }
lacks() { ! grep -qF -- "$2" "$1" || fail "$1 has '$2'"; }
# variant DIR CKPT CONFIG SEED [--dtype D]: a checkpoint and a build of it.
variant() {
  local dir=$1 ck=$2 cfg=$3 seed=$4
  shift 4
  "$lmcc" synth "$cfg" -o "$work/$ck" --seed "$seed" "$@" >/dev/null 2>&1
  "$lmcc" build "$cfg" "$@" -o "$work/$dir" >/dev/null 2>&1
}

# Fused: geglu in the gate/up linear, softcap in the head, every norm a
# prologue, the scale in the embedding; input_layernorm in two slots.
variant fused ck "$here/gemma-ops.yaml" 3
c=$work/fused/gemma_ops.c
has "$c" "lm_linear_task(arg, tid, nthreads, 96, 1e-06f, 2, outs, LM_F32, LM_LINEAR_GEGLU, 0)"
has "$c" "/* logits: rmsnorm [n, 96] -> [n, 256], softcap 0.5 */"
has "$c" ".softcap = 0.5f,"
has "$c" "lm_embed_scaled_task(arg, tid, nthreads, 96, LM_F32, 9.797958971132712f, 0)"
has "$c" '{ "model.layers.0.input_layernorm.weight", LM_F32, 1, { 96, 0, 0, 0 }, 96, 0, 0.5f }'
has "$c" '{ "model.layers.0.input_layernorm.weight", LM_F32, 1, { 96, 0, 0, 0 }, 96, 0, 1.0f }'
has "$c" '{ "model.norm.weight", LM_F32, 1, { 96, 0, 0, 0 }, 96, 0, 1.0f }'
has "$c" '{ "model.layers.0.mixer.weight", LM_F32, 2, { 96, 96, 0, 0 }, 96, 0, 0.0f }'
for k in lm_geglu_task lm_softcap_task lm_rmsnorm_task lm_add_task; do lacks "$c" "$k("; done
"$work/fused/gemma-ops" -m "$work/ck" --tokens $tokens -n 0 --logits "$work/fused.npy" >/dev/null
"$python" "$here/gemma_ops_ref.py" "$work/ck" --tokens $tokens --logits "$work/fused.npy" --tol 1e-4

# Unfused: geglu and the residual softcap run row-wise.
variant unfused cku "$here/gemma-ops-unfused.yaml" 4
c=$work/unfused/gemma_ops_unfused.c
has "$c" "lm_geglu_task(arg, tid, nthreads, 128)"
has "$c" "lm_softcap_task(arg, tid, nthreads, 96, 4.0f)"
has "$c" ".softcap = 0.5f,"
lacks "$c" "LM_LINEAR_GEGLU"
"$work/unfused/gemma-ops-unfused" -m "$work/cku" --tokens $tokens -n 0 --logits "$work/unfused.npy" >/dev/null
"$python" "$here/gemma_ops_ref.py" "$work/cku" --tokens $tokens --logits "$work/unfused.npy" --fuse 0 --tol 1e-4

# bf16: the scale rounded to bf16 (9.8125) and each product too.
variant bf16 ckb "$here/gemma-ops.yaml" 3 --dtype bf16
has "$work/bf16/gemma_ops.c" "lm_embed_scaled_task(arg, tid, nthreads, 96, LM_BF16, 9.797958971132712f, 1)"
"$work/bf16/gemma-ops" -m "$work/ckb" --tokens $tokens -n 0 --logits "$work/bf16.npy" --dump "$work/dump" \
  >/dev/null 2>&1
"$python" "$here/gemma_ops_ref.py" "$work/ckb" --tokens $tokens --logits "$work/bf16.npy" --matmul-input bf16 \
  --tol 2e-2 --mean-tol 1e-3 --embed-dump "$work/dump/model.embed_tokens.npy"

# q8_0: the offset norms are converted slots the weight cache holds.
"$lmcc" build "$here/gemma-ops.yaml" --dtype q8_0 -o "$work/q8" >/dev/null 2>&1
"$work/q8/gemma-ops" -m "$work/ck" --tokens $tokens -n 0 --logits "$work/q8a.npy" >/dev/null
"$work/q8/gemma-ops" -m "$work/ck" --tokens $tokens -n 0 --logits "$work/q8b.npy" --stats 2>"$work/q8.err" >/dev/null
has "$work/q8.err" "quantized weights from the weight cache"
cmp -s "$work/q8a.npy" "$work/q8b.npy" || fail "q8_0 logits differ when the weights come from the cache"
"$python" "$here/gemma_ops_ref.py" "$work/ck" --tokens $tokens --logits "$work/q8a.npy" --tol 5e-2

# Script errors: one line naming the script and the op.
probe() {
  sed -e '$a probe: '"$1" "$here/gemma-ops.yaml" > "$work/probe-$1.yaml"
  if "$lmcc" build "$work/probe-$1.yaml" --emit-only -o "$work/probe-$1" 2>"$work/probe-$1.err"; then
    fail "probe $1 built"
  fi
  has "$work/probe-$1.err" "$2"
  [ "$(wc -l < "$work/probe-$1.err")" -eq 1 ] || fail "probe $1: more than one line: $(cat "$work/probe-$1.err")"
}
probe bad_option "gemma_ops.lua: rmsnorm: unknown option 'ofset'; options: offset; fix the architecture script"
probe head_shared "gemma_ops.lua: softcap: as the model's output it must cap a linear's output that nothing else reads"
probe skip_twice "gemma_ops.lua: skip_tensors: declared twice; list every prefix in one call"
probe skip_covers "gemma_ops.lua: skip_tensors: prefix 'model.layers.1.' covers the weight 'model.layers.1.input_layernorm.weight' the model reads"
probe skip_no_reason "gemma_ops.lua: skip_tensors: the second argument must say what the skipped tensors are"
echo "ops: geglu, softcap, offset norms and the scaled embedding fuse, run and match the reference"
