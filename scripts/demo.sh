#!/usr/bin/env bash
# make demo: compile a small Qwen3 config, make a synthetic checkpoint for it
# with `lmcc synth`, and run the generated executable on a token sequence.
set -euo pipefail
build=${1:-build}
config=configs/test/qwen3-demo.yaml
out=$build/demo

echo "== lmcc synth $config (random weights in Hugging Face layout)"
"$build/lmcc" synth "$config" -o "$out/checkpoint" --seed 1 --dtype bf16

echo "== lmcc build $config"
"$build/lmcc" build "$config" -o "$out"

prompt=101,2023,2003,1037,3231,1997,1996,6254,2005,1048
echo "== $out/qwen3-demo -m $out/checkpoint --tokens $prompt -n 24 --stats"
echo "generated ids:"
"$out/qwen3-demo" -m "$out/checkpoint" --tokens "$prompt" -n 24 --stats
