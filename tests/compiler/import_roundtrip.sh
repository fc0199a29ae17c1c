#!/usr/bin/env bash
# lmcc import of each shipped model's Hugging Face config.json (copies in
# tests/data/hf_configs) must reproduce the shipped YAML, comments aside.
set -euo pipefail
lmcc=$1
status=0
for json in tests/data/hf_configs/*.json; do
  name=$(basename "$json" .json)
  family=${name%%-*}
  shipped=configs/$family/$name.yaml
  if ! diff <(grep -v '^#' "$shipped") <("$lmcc" import "$json"); then
    echo "import of $json differs from $shipped" >&2
    status=1
  fi
done
[ $status -eq 0 ] && echo "import round trip: ok"
exit $status
