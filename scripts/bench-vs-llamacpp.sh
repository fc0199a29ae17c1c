#!/usr/bin/env bash
# lmcc side by side with llama.cpp and ik_llama.cpp on the same weights.
#
#   bash scripts/bench-vs-llamacpp.sh [--llama-cpp DIR] [--ik-llama-cpp DIR]
#        [--build BUILD_DIR] [--rounds N] [--dtypes "bf16 q8_0 q4_0"] [LLAMA_CPP_DIR]
#   BENCH_MODELS="qwen3-0.6b" ...     the models, as for scripts/bench.sh
#
# DIR is a llama.cpp (or ik_llama.cpp) source tree with the user's CPU build
# in DIR/build/bin (llama-bench, llama-quantize), or that bin directory
# itself; give at least one. lmcc builds, downloads and commits none of
# their code. ik_llama.cpp runs with -rtr 1 (weights repacked at load).
#
# BENCH_MODELS: qwen3-0.6b (the default), llama3.2-1b, qwen3-30b-a3b-8layers
# (Qwen3-30B-A3B's layers, 8 of its 48: a mixture of experts; llama.cpp at
# c392e50 predates Qwen3 MoE, so give that one --ik-llama-cpp only).
#
# For each model the script
# 1. makes the random bf16 checkpoint scripts/bench.sh uses (cached in
#    BUILD_DIR/bench/ckpt-<model>) and writes it as GGUF with llama.cpp's
#    own writer (scripts/gguf_from_checkpoint.py, the tree's gguf-py), then
#    q8_0 and q4_0 with llama-quantize --pure (every matrix in the one type,
#    as lmcc's --dtype does); cached in BUILD_DIR/bench/gguf;
# 2. builds lmcc's executables (bf16 with its defaults, q8_0, q4_0) and
#    warms every engine up once (page cache, lmcc's weight cache);
# 3. runs N rounds (default 3); in each, per dtype, the memory bandwidth
#    (lmcc-limits --bandwidth-only), then lmcc and each peer back to back:
#    prefill of a 512-token prompt, then decode of 128 tokens after it
#    (lmcc's --bench; llama-bench -p 512 -n 0, and -gp 512,128 or -d 512
#    -n 128, whichever the build has, else -n 128 from an empty context,
#    which the JSON then says), one repetition each;
# 4. prints one JSON document: per model and dtype, every round's tokens/s
#    and bandwidth, and per peer the ratios lmcc / peer of each round's
#    pair with their median, min and max. The bandwidth moves with the
#    host's load (34-68 GB/s on the shared machines), which is why pairs
#    are compared, never runs of different rounds.
# Progress and the engines' output go to stderr and BUILD_DIR/bench/vs/.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-common.sh
. scripts/bench-common.sh
PY=/usr/bin/python3
build=build rounds=3 dtypes="bf16 q8_0 q4_0" llama_dir="" ik_dir=""
PROMPT_TOKENS=512
DECODE_STEPS=128

say() { echo "bench-vs: $*" >&2; }
die() { echo "bench-vs: error: $*" >&2; exit 1; }
usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

while [ $# -gt 0 ]; do
  case $1 in
    --llama-cpp) llama_dir=${2:?--llama-cpp needs a directory}; shift 2 ;;
    --ik-llama-cpp) ik_dir=${2:?--ik-llama-cpp needs a directory}; shift 2 ;;
    --build) build=${2:?--build needs a directory}; shift 2 ;;
    --rounds) rounds=${2:?--rounds needs a number}; shift 2 ;;
    --dtypes) dtypes=${2:?--dtypes needs a list}; shift 2 ;;
    -h|--help) usage ;;
    -*) die "unknown option $1; see --help" ;;
    *) [ -z "$llama_dir" ] || die "one llama.cpp directory only (got $llama_dir and $1)"; llama_dir=$1; shift ;;
  esac
done
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "--rounds $rounds: expected a positive whole number"
for d in $dtypes; do
  case $d in bf16|q8_0|q4_0) ;; *) die "--dtypes: '$d' is not one of bf16 q8_0 q4_0" ;; esac
done
[ -n "$llama_dir$ik_dir" ] || die "give a llama.cpp build (LLAMA_CPP_DIR or --llama-cpp) and/or --ik-llama-cpp DIR"

find_peers llama-bench "$llama_dir" "$ik_dir" "-rtr 1" "$dtypes"

lmcc=$build/lmcc limits=$build/lmcc-limits
for tool in "$lmcc" "$limits"; do
  [ -x "$tool" ] || die "$tool: not built; run \`make build\` (or cmake --build $build)"
done
work=$build/bench out=$build/bench/vs
mkdir -p "$work/gguf" "$out"
threads=$(nproc)

all_models=("qwen3-0.6b:configs/qwen3/qwen3-0.6b.yaml" "llama3.2-1b:configs/llama/llama3.2-1b.yaml"
            "qwen3-30b-a3b-8layers:configs/bench/qwen3-30b-a3b-8layers.yaml")
models=()
for entry in "${all_models[@]}"; do
  name=${entry%%:*}
  if [ -z "${BENCH_MODELS:-qwen3-0.6b}" ] || [[ " ${BENCH_MODELS:-qwen3-0.6b} " == *" $name "* ]]; then
    models+=("$entry")
  fi
done
[ "${#models[@]}" -gt 0 ] || die "BENCH_MODELS='$BENCH_MODELS' names none of: ${all_models[*]%%:*}"

# How a peer measures decode after the prompt.
decode_flags() {
  local help
  help=$("$1/llama-bench" --help 2>&1 || true)
  if grep -q -- '-gp <pp,tg>' <<< "$help"; then
    echo "-p 0 -n 0 -gp $PROMPT_TOKENS,$DECODE_STEPS"
  elif grep -q -- '--n-depth' <<< "$help"; then
    echo "-p 0 -n $DECODE_STEPS -d $PROMPT_TOKENS"
  else
    echo "-p 0 -n $DECODE_STEPS"
  fi
}

prompt=$($PY -c "print(','.join(str((i * 7919 + 13) % 128000) for i in range($PROMPT_TOKENS)))")
records=$out/records.jsonl
: > "$records"
record() { echo "$1" >> "$records"; }

for entry in "${models[@]}"; do
  IFS=: read -r name config <<< "$entry"
  ckpt=$work/ckpt-$name
  bench_checkpoint "$ckpt" "$config"
  for dtype in $dtypes; do
    peer_gguf "$ckpt" "$work/gguf/$name" "$dtype" "$out/quantize-$name-$dtype.log"
    exe_dir=$work/bin-$name-$dtype
    say "building lmcc $name --dtype $dtype"
    "$lmcc" build "$config" --dtype "$dtype" -o "$exe_dir" >&2 || die "lmcc build $config --dtype $dtype failed"
    "$exe_dir/$name" -m "$ckpt" --tokens 1 -n 1 > /dev/null 2>> "$out/lmcc-$name-$dtype.log" || die "$exe_dir/$name warm-up failed"
  done

  for round in $(seq 1 "$rounds"); do
    for dtype in $dtypes; do
      gguf=$work/gguf/$name-$dtype.gguf exe=$work/bin-$name-$dtype/$name
      bw=$("$limits" --bandwidth-only | $PY -c "import json,sys; print(json.load(sys.stdin)['read_bandwidth_gbs'])")
      say "round $round, $name $dtype: bandwidth $bw GB/s"
      lm=$("$exe" -m "$ckpt" --tokens "$prompt" -n $((DECODE_STEPS + 1)) -t "$threads" --bench 2>> "$out/lmcc-$name-$dtype.log") \
        || die "$exe --bench failed (log: $out/lmcc-$name-$dtype.log)"
      record "$($PY -c "import json,sys; d=json.loads(sys.argv[1]); print(json.dumps({'model': sys.argv[2], 'dtype': sys.argv[3], 'round': int(sys.argv[4]), 'engine': 'lmcc', 'bandwidth_gbs': float(sys.argv[5]), 'prefill_tps': d['prefill_tps'], 'decode_tps': d['decode_tps']}))" "$lm" "$name" "$dtype" "$round" "$bw")"
      for peer in "${peers[@]}"; do
        IFS=: read -r pname pbin pflags <<< "$peer"
        log=$out/$pname-$name-$dtype.log
        # shellcheck disable=SC2086 # flag lists
        pp=$("$pbin/llama-bench" -m "$gguf" -t "$threads" -p $PROMPT_TOKENS -n 0 -r 1 $pflags -o json 2>> "$log") \
          || die "$pname llama-bench failed on $gguf (log: $log)"
        # shellcheck disable=SC2086
        tg=$("$pbin/llama-bench" -m "$gguf" -t "$threads" $(decode_flags "$pbin") -r 1 $pflags -o json 2>> "$log") \
          || die "$pname llama-bench failed on $gguf (log: $log)"
        record "$($PY -c "
import json, sys
pp, tg = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print(json.dumps({'model': sys.argv[3], 'dtype': sys.argv[4], 'round': int(sys.argv[5]), 'engine': sys.argv[6],
                  'bandwidth_gbs': float(sys.argv[7]), 'prefill_tps': pp[0]['avg_ts'], 'decode_tps': tg[-1]['avg_ts'],
                  'decode_after_prompt': tg[-1]['n_prompt'] > 0 or tg[-1].get('n_depth', 0) > 0}))" \
          "$pp" "$tg" "$name" "$dtype" "$round" "$pname" "$bw")"
        say "  $(tail -n 1 "$records")"
      done
    done
  done
done

"$limits" --quick > "$out/machine.json" || die "$limits --quick failed"
$PY - "$records" "$out/machine.json" "$rounds" "${peers[@]}" <<'PYEOF'
import json, os, statistics, sys
records = [json.loads(line) for line in open(sys.argv[1])]
machine = json.load(open(sys.argv[2]))
rounds = int(sys.argv[3])
peers = [p.split(":")[0] for p in sys.argv[4:]]
results = []
for model, dtype in dict.fromkeys((r["model"], r["dtype"]) for r in records):
    rs = [r for r in records if r["model"] == model and r["dtype"] == dtype]
    by = {(r["engine"], r["round"]): r for r in rs}
    entry = {"model": model, "dtype": dtype,
             "bandwidth_gbs": [by[("lmcc", k)]["bandwidth_gbs"] for k in range(1, rounds + 1)],
             "engines": {}, "ratios": {}}
    for engine in ["lmcc"] + peers:
        runs = [by[(engine, k)] for k in range(1, rounds + 1)]
        entry["engines"][engine] = {"prefill_tps": [r["prefill_tps"] for r in runs],
                                    "decode_tps": [r["decode_tps"] for r in runs]}
        if engine != "lmcc":
            entry["engines"][engine]["decode_after_prompt"] = all(r["decode_after_prompt"] for r in runs)
    for peer in peers:
        ratio = {}
        for phase in ("prefill_tps", "decode_tps"):
            pairs = [by[("lmcc", k)][phase] / by[(peer, k)][phase] for k in range(1, rounds + 1)]
            ratio[phase.replace("_tps", "")] = {"median": round(statistics.median(pairs), 3),
                                                "min": round(min(pairs), 3), "max": round(max(pairs), 3),
                                                "rounds": [round(x, 3) for x in pairs]}
        entry["ratios"][f"lmcc/{peer}"] = ratio
    results.append(entry)
cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
           "unknown")
doc = {"machine": dict({"cpu": cpu, "threads": len(os.sched_getaffinity(0))},
                       **{k: machine.get(k) for k in ("read_bandwidth_gbs", "fma_gflops", "bf16_dot_gflops",
                                                       "int8_dot_gops", "amx_bf16_gflops", "amx_int8_gops")}),
       "prompt_tokens": 512, "decode_tokens": 128, "rounds": rounds, "results": results}
print(json.dumps(doc, indent=2))
PYEOF
