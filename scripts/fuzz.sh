#!/usr/bin/env bash
# make fuzz: builds the libFuzzer targets (tests/fuzz/, clang-19, ASan +
# UBSan) in build-fuzz/ and runs each for FUZZ_SECONDS on a copy of its
# committed corpus, FUZZ_JOBS targets at a time. Prints per target the
# executions, the coverage (libFuzzer's cov: edges, ft: features) and the
# crashes (crash-, leak-, timeout- and oom- inputs, kept under
# build-fuzz/fuzz-run/<target>/artifacts/). Exits 1 when any target crashed.
#   FUZZ_SECONDS=120 FUZZ_JOBS=$(nproc) FUZZ_TARGETS="safetensors chat" scripts/fuzz.sh
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD:-$root/build-fuzz}
seconds=${FUZZ_SECONDS:-120}
jobs=${FUZZ_JOBS:-$(nproc)}
cc=${FUZZ_CC:-clang-19}

command -v "$cc" >/dev/null || { echo "fuzz: error: $cc not found; run scripts/setup.sh" >&2; exit 1; }
ls /usr/lib/llvm-19/lib/clang/19/lib/linux/libclang_rt.fuzzer-*.a >/dev/null 2>&1 ||
  { echo "fuzz: error: libFuzzer is not installed (libfuzzer-19-dev); run scripts/setup.sh" >&2; exit 1; }

cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=Debug -DLMCC_FUZZ=ON >/dev/null
cmake --build "$build" -j "$(nproc)" --target fuzz_targets >&2

if [ -n "${FUZZ_TARGETS:-}" ]; then
  targets=($FUZZ_TARGETS)
else
  targets=()
  for exe in "$build"/fuzz/fuzz_*; do targets+=("${exe##*/fuzz_}"); done
fi

for t in "${targets[@]}"; do
  [ -x "$build/fuzz/fuzz_$t" ] || { echo "fuzz: error: no target '$t' (tests/fuzz/fuzz_$t.c); the targets are: $(ls "$build"/fuzz | sed 's/^fuzz_//' | tr '\n' ' ')" >&2; exit 1; }
done

run=$build/fuzz-run
# One target: a fresh copy of its corpus (new inputs land there, never in
# the committed corpus), its dictionary when there is one.
run_one() {
  local t=$1 dir=$run/$1
  rm -rf "$dir" && mkdir -p "$dir/corpus" "$dir/artifacts"
  cp "$root/tests/fuzz/corpus/$t"/* "$dir/corpus/"
  local dict=()
  [ -f "$root/tests/fuzz/$t.dict" ] && dict=(-dict="$root/tests/fuzz/$t.dict")
  "$build/fuzz/fuzz_$t" "$dir/corpus" "${dict[@]}" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 -artifact_prefix="$dir/artifacts/" \
    >"$dir/log" 2>&1 || true
}
export -f run_one
export root build run seconds

echo "fuzz: ${#targets[@]} targets, ${seconds}s each, $jobs at a time" >&2
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one {}'

failed=0
printf '%-18s %12s %8s %8s %8s  %s\n' target executions cov ft crashes corpus
for t in "${targets[@]}"; do
  log=$run/$t/log
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  crashes=$(find "$run/$t/artifacts" -type f | wc -l)
  ncorpus=$(find "$run/$t/corpus" -type f | wc -l)
  printf '%-18s %12s %8s %8s %8s  %s\n' "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$crashes" "$ncorpus"
  if [ "$crashes" -gt 0 ]; then
    failed=1
    find "$run/$t/artifacts" -type f | sed 's/^/  /'
    grep -m1 -E 'ERROR: |runtime error:|SUMMARY:' "$log" | sed 's/^/  /' || true
  fi
done
exit $failed
