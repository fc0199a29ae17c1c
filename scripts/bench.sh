#!/usr/bin/env bash
# make bench: speed of generated models against this machine's limits.
#
#   bash scripts/bench.sh [BUILD_DIR]      (default build; `make bench` builds it first)
#   BENCH_MODELS="llama3.2-1b" bash scripts/bench.sh   only the models named
#
# 1. Measures the memory read bandwidth, the f32 FMA peak and, where the CPU
#    has them, the AVX-512 BF16 and AMX peaks (BUILD_DIR/lmcc-limits).
# 2. Makes (once, cached in BUILD_DIR/bench/ckpt-<model>) random bf16
#    checkpoints with the exact shapes of Qwen3-0.6B, Qwen-1.8B,
#    Llama-3.2-1B and (8 layers of) Qwen3-30B-A3B; the MoE model is built at
#    bf16, q8_0 and q4_0 only.
# 3. Builds each at bf16 (by default the linears' inputs and the KV cache
#    rounded to bf16, multiplied on AMX or with AVX-512 BF16 dot products
#    where the CPU has them), at bf16 with --matmul-input f32 --kv-dtype f32
#    (f32 activations and cache), at q8_0, q4_0 and q4_k8 (int8 inputs, VNNI
#    where the CPU has it), and runs the executable's --bench: prefill
#    of a 512-token prompt, then 128 decode steps (-n 129: the first new
#    token comes from the prefill, each later one from one decode step).
#    The bandwidth and the FMA peak move with the host's load, so both are
#    measured again right before each run (lmcc-limits --quick) and that
#    run's decode_fraction and prefill_fraction use the fresh figures; the
#    prefill is measured against the peak of the kernel it uses.
# 4. Prints one JSON document on stdout:
#      {"machine": {"cpu", "threads", "read_bandwidth_gbs", "fma_gflops",
#                   "bf16_dot_gflops", "int8_dot_gops", "amx_bf16_gflops", "amx_int8_gops"},
#       "runs": [<each executable's --bench object>]}
#    Progress goes to stderr; BUILD_DIR/bench/details.json adds what the
#    document's fixed shape leaves out (the bandwidth and load average at
#    each run, one thread's and 4 KiB pages' figures).
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-common.sh
. scripts/bench-common.sh
lmcc=$build/lmcc
limits=$build/lmcc-limits
work=$build/bench
PY=/usr/bin/python3
PROMPT_TOKENS=512
DECODE_STEPS=128

say() { echo "bench: $*" >&2; }
die() { echo "bench: error: $*" >&2; exit 1; }

for tool in "$lmcc" "$limits"; do
  [ -x "$tool" ] || die "$tool: not built; run \`make bench\` (or cmake --build $build)"
done
[ -x "$PY" ] || die "$PY: not found; it assembles the JSON (apt-get install python3)"
mkdir -p "$work"

# name : config : GB of disk its bf16 checkpoint takes, with room to spare
#   [: the builds, comma-separated (default all five of step 3)]
# The mixture-of-experts run has Qwen3-30B-A3B's per-layer shapes with 8 of
# its 48 layers (an 11 GB checkpoint); its decode is counted against the
# weights a token reads (attention, router, the 8 chosen experts, head), and
# its --bench object says how evenly the run's tokens were routed
# (moe_routing).
all_models=("qwen3-0.6b:configs/qwen3/qwen3-0.6b.yaml:2"
            "qwen1-1.8b:configs/qwen1/qwen1-1.8b.yaml:5"
            "llama3.2-1b:configs/llama/llama3.2-1b.yaml:4"
            "qwen3-30b-a3b-8layers:configs/bench/qwen3-30b-a3b-8layers.yaml:13:bf16,q8_0,q4_0")
models=()
for entry in "${all_models[@]}"; do
  name=${entry%%:*}
  if [ -z "${BENCH_MODELS:-}" ] || [[ " $BENCH_MODELS " == *" $name "* ]]; then
    models+=("$entry")
  fi
done
[ "${#models[@]}" -gt 0 ] || die "BENCH_MODELS='$BENCH_MODELS' names none of: ${all_models[*]%%:*}"

# Disk first, so a short disk fails now and not minutes into a synth.
need_gb=0
for entry in "${models[@]}"; do
  IFS=: read -r name config gb variants <<< "$entry"
  [ -f "$work/ckpt-$name/.complete" ] || need_gb=$((need_gb + gb))
done
free_gb=$(df -Pk "$work" | awk 'NR==2 {print int($4 / 1048576)}')
if [ "$need_gb" -gt 0 ] && [ "$free_gb" -lt "$need_gb" ]; then
  die "$work: ${free_gb} GB free, the checkpoints need about ${need_gb} GB; free some disk or pass another build directory"
fi

say "measuring this machine's limits (about a minute)"
"$limits" > "$work/machine.json" || die "$limits failed"
say "$(cat "$work/machine.json")"

# Token ids below every model's vocabulary (Llama 3's 128256 is the
# smallest), spread over the table.
prompt=$($PY -c "print(','.join(str((i * 7919 + 13) % 128000) for i in range($PROMPT_TOKENS)))")

runs=()
for entry in "${models[@]}"; do
  IFS=: read -r name config gb variants <<< "$entry"
  variants=${variants:-bf16,bf16-f32,q8_0,q4_0,q4_k8}
  ckpt=$work/ckpt-$name
  bench_checkpoint "$ckpt" "$config"
  for variant in ${variants//,/ }; do
    dtype=${variant%%-*}
    opts=(--dtype "$dtype")
    [ "$variant" = "$dtype" ] || opts+=(--matmul-input f32 --kv-dtype f32)
    out=$work/bin-$name-$variant
    log=$work/run-$name-$variant.log
    : > "$log"
    say "building $name: ${opts[*]}"
    start=$(date +%s.%N)
    "$lmcc" build "$config" "${opts[@]}" -o "$out" >&2 || die "lmcc build $config ${opts[*]} failed"
    build_s=$($PY -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 2))" "$start" "$(date +%s.%N)")
    "$limits" --quick > "$work/bandwidth-$name-$variant.json" || die "$limits --quick failed"
    # The figures as --bench options (a peak the CPU lacks is null: left out).
    read -r bw fma peaks <<< "$($PY -c "
import json, sys
m = json.load(open(sys.argv[1]))
flags = [f'--{k} {m[j]}' for k, j in (('bf16-dot-gflops', 'bf16_dot_gflops'), ('int8-dot-gops', 'int8_dot_gops'),
                                          ('amx-gflops', 'amx_bf16_gflops'), ('amx-int8-gops', 'amx_int8_gops'))
         if m.get(j) is not None]
print(m['read_bandwidth_gbs'], m['fma_gflops'], ' '.join(flags))" "$work/bandwidth-$name-$variant.json")"
    if [ "$dtype" = bf16 ]; then
      # The load figure is for a warm page cache: one short run first, which
      # also puts a just-written checkpoint on 2 MiB pages (runtime/weights/hugemap.h).
      "$out/$name" -m "$ckpt" --tokens 1 -n 1 > /dev/null 2>> "$log" || die "$out/$name warm-up failed (log: $log)"
    fi
    say "running $name $variant (built in ${build_s} s; bandwidth now $bw GB/s, FMA peak $fma GFLOP/s $peaks; load $(cut -d' ' -f1-3 /proc/loadavg))"
    # shellcheck disable=SC2086 # $peaks is a list of flags
    if ! "$out/$name" -m "$ckpt" --tokens "$prompt" -n $((DECODE_STEPS + 1)) --bench \
        --bandwidth-gbs "$bw" --fma-gflops "$fma" $peaks > "$work/run-$name-$variant.json" 2>> "$log"; then
      tail -n 20 "$log" >&2
      die "$out/$name --bench failed (log: $log)"
    fi
    echo "$build_s" > "$work/build-s-$name-$variant"
    say "$(cat "$work/run-$name-$variant.json")"
    runs+=("$name-$variant")
  done
done

say "measuring the bandwidth once more, for the record"
"$limits" --bandwidth-only > "$work/bandwidth-end.json" || die "$limits --bandwidth-only failed"
say "$(cat "$work/bandwidth-end.json")"

$PY - "$work" "${runs[@]}" <<'PYEOF'
import json, os, sys
work, names = sys.argv[1], sys.argv[2:]
def load(name):
    with open(os.path.join(work, name)) as f:
        return json.load(f)
machine = load("machine.json")
runs = [load(f"run-{n}.json") for n in names]
doc = {"machine": {k: machine[k] for k in ("cpu", "threads", "read_bandwidth_gbs", "fma_gflops",
                                           "bf16_dot_gflops", "int8_dot_gops", "amx_bf16_gflops",
                                           "amx_int8_gops")},
       "runs": runs}
details = {"machine": machine,
           "bandwidth_at_end": load("bandwidth-end.json"),
           "runs": [dict(run, bandwidth_before=load(f"bandwidth-{n}.json"),
                         lmcc_build_s=float(open(os.path.join(work, f"build-s-{n}")).read()))
                    for n, run in zip(names, runs)]}
tmp = os.path.join(work, "details.json.tmp")
with open(tmp, "w") as f:
    json.dump(details, f, indent=2)
os.replace(tmp, os.path.join(work, "details.json"))
print(json.dumps(doc, indent=2))
PYEOF
