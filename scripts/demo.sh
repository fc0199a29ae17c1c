#!/usr/bin/env bash
# make demo: compile lmcc's trained model (a 4.2M-parameter Qwen3 trained on
# the King James Bible, tools/kjv/checkpoint), then let it complete two
# prompts: greedily, and sampled with a fixed seed. Each prints the text and
# the speed the executable measured.
set -euo pipefail
build=${1:-build}
config=configs/test/qwen3-kjv.yaml
ckpt=tools/kjv/checkpoint
out=$build/demo
exe=$out/qwen3-kjv

# The trained weights are not kept in git: tools/kjv/train.py makes them
# (about 40 min on 2 cores). Without them the demo runs random weights of
# the same shape with the trained tokenizer, so the text is noise.
if [ ! -f "$ckpt/model.safetensors" ]; then
  echo "== $ckpt/model.safetensors is missing (make it with tools/kjv/train.py); using random weights"
  "$build/lmcc" synth "$config" -o "$out/random" --seed 1 --dtype bf16
  cp "$ckpt"/tokenizer.json "$ckpt"/tokenizer_config.json "$ckpt"/generation_config.json "$out/random/"
  ckpt=$out/random
fi

echo "== lmcc build $config -o $out"
"$build/lmcc" build "$config" -o "$out"

# Completes PROMPT with the model (further options after it) and --stats;
# prints the prompt and its continuation, then the speed lines of the
# statistics (the rest of them is for diagnosis).
complete() {
  local prompt=$1 stats
  shift
  stats=$(mktemp)
  trap 'rm -f "$stats"' RETURN
  echo
  echo "== $exe -m $ckpt -p \"$prompt\" $*"
  printf '%s' "$prompt"
  if ! "$exe" -m "$ckpt" -p "$prompt" --stats "$@" 2> "$stats"; then
    cat "$stats" >&2
    return 1
  fi
  echo
  grep -E '^(prefill|decode):' "$stats" | sed 's/^/   /'
}

complete "In the beginning" -n 40
complete "And the LORD said unto Moses," -n 40 --temperature 0.8 --top-p 0.95 --seed 7
