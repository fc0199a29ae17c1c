#!/usr/bin/env bash
# scripts/bench-vs-llamacpp.sh refuses what it cannot run, with one clear
# line and a non-zero exit, before it makes or builds anything: no peer
# given, a peer without llama-bench, an unknown dtype, a bad round count,
# an unknown option. (Its runs need the user's llama.cpp builds, which the
# project neither has nor builds; docs/performance.md has their figures.)
set -euo pipefail
work=$1
rm -rf "$work" && mkdir -p "$work"
fail() { echo "bench_vs: $*" >&2; exit 1; }
refuses() { # expected-text args...
  local want=$1 out rc=0
  shift
  out=$(bash scripts/bench-vs-llamacpp.sh --build "$work/build" "$@" 2>&1 >/dev/null) || rc=$?
  [ "$rc" -ne 0 ] || fail "$*: exit status 0, want a refusal"
  grep -q -- "$want" <<< "$out" || fail "$*: said '$out', want '$want'"
  [ "$(wc -l <<< "$out")" -eq 1 ] || fail "$*: more than one line: $out"
}
refuses "give a llama.cpp build"
refuses "no llama-bench in $work/none" --ik-llama-cpp "$work/none"
mkdir -p "$work/peer/build/bin"
printf '#!/bin/sh\nexit 0\n' > "$work/peer/build/bin/llama-bench"
chmod +x "$work/peer/build/bin/llama-bench"
refuses "'q9_9' is not one of bf16 q8_0 q4_0" --dtypes "q4_0 q9_9" "$work/peer"
refuses "--rounds 0: expected a positive whole number" --rounds 0 "$work/peer"
refuses "unknown option --fast" --fast
refuses "no gguf-py directory beside the llama.cpp builds" "$work/peer"
[ ! -e "$work/build" ] || fail "a refusal left $work/build behind"
echo "bench_vs: ok"
