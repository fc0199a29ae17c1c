#!/usr/bin/env bash
# make bench: speed of generated models against this machine's limits.
#
# Measures the memory read bandwidth and f32 FMA peak (build/lmcc-limits),
# makes (once, cached) random checkpoints with the exact shapes of
# Qwen3-0.6B and Qwen-1.8B, builds each at bf16 and q8_0, and runs each
# executable's --bench: prefill of a 512-token prompt, decode of 128 tokens.
# The bandwidth is measured again right before each run, because it moves
# with the host's load. Prints one JSON document on stdout; progress on stderr.
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
lmcc=$build/lmcc
limits=$build/lmcc-limits
work=$build/bench
mkdir -p "$work"
PY=/usr/bin/python3

say() { echo "bench: $*" >&2; }

models=("qwen3-0.6b:configs/qwen3/qwen3-0.6b.yaml" "qwen1-1.8b:configs/qwen1/qwen1-1.8b.yaml")
need_gb=12
free_gb=$(df -Pk "$work" | awk 'NR==2 {print int($4 / 1048576)}')

say "measuring this machine's limits"
"$limits" > "$work/machine.json"
say "$(cat "$work/machine.json")"

prompt=$($PY -c "print(','.join(str((i * 7919 + 13) % 150000) for i in range(512)))")
runs=()
for entry in "${models[@]}"; do
  name=${entry%%:*} config=${entry#*:}
  ckpt=$work/ckpt-$name
  if [ ! -f "$ckpt/.complete" ]; then
    if [ "$free_gb" -lt "$need_gb" ]; then
      echo "bench: error: $work: ${free_gb} GB free, need about ${need_gb} GB for the checkpoints" >&2
      exit 1
    fi
    say "making a random $name checkpoint (once; cached in $ckpt)"
    rm -rf "$ckpt"
    "$lmcc" synth "$config" -o "$ckpt" --seed 1 --dtype bf16 >&2
    touch "$ckpt/.complete"
  fi
  for dtype in bf16 q8_0; do
    out=$work/bin-$name-$dtype
    say "building $name at $dtype"
    "$lmcc" build "$config" --dtype "$dtype" -o "$out" >&2
    bw=$("$limits" --bandwidth-only | $PY -c "import json,sys; print(json.load(sys.stdin)['read_bandwidth_gbs'])")
    fma=$($PY -c "import json; print(json.load(open('$work/machine.json'))['fma_gflops'])")
    say "running $name $dtype (bandwidth now $bw GB/s)"
    "$out/$name" -m "$ckpt" --tokens "$prompt" -n 128 --bench \
      --bandwidth-gbs "$bw" --fma-gflops "$fma" > "$work/run-$name-$dtype.json" 2>/dev/null
    runs+=("$work/run-$name-$dtype.json")
  done
done

$PY - "$work/machine.json" "${runs[@]}" <<'PYEOF'
import json, sys
machine = json.load(open(sys.argv[1]))
doc = {"machine": {k: machine[k] for k in ("cpu", "threads", "read_bandwidth_gbs", "fma_gflops")},
       "runs": [json.load(open(p)) for p in sys.argv[2:]]}
print(json.dumps(doc, indent=2))
PYEOF
