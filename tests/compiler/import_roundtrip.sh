#!/usr/bin/env bash
# lmcc import of each shipped model's Hugging Face config.json (copies in
# tests/data/hf_configs) must reproduce the shipped YAML, comments aside.
set -euo pipefail
lmcc=$1
status=0
for json in tests/data/hf_configs/*.json; do
  name=$(basename "$json" .json)
  shipped=$(ls configs/*/"$name.yaml" 2>/dev/null | head -n 1 || true)
  if [ -z "$shipped" ]; then
    echo "$json: no shipped config configs/*/$name.yaml" >&2
    status=1
    continue
  fi
  if ! diff <(grep -v '^#' "$shipped") <("$lmcc" import "$json"); then
    echo "import of $json differs from $shipped" >&2
    status=1
  fi
done
[ $status -eq 0 ] && echo "import round trip: ok"
exit $status
