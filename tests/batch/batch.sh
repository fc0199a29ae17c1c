#!/usr/bin/env bash
# One case of the batched-forward check (batch_check.c): synthesize a
# checkpoint, build the model with lmcc, link batch_check.c with the model's
# library and the runtime (as a program embedding a model does), and run it.
#
#   batch.sh LMCC RUNTIME_LIB "MODEL_CFLAGS" "MODEL_LIBS" WORK CONFIG DTYPE "BUILD_OPTS" [CHECK_OPTS...]
set -euo pipefail
lmcc=$1 runtime_lib=$2 cflags=$3 libs=$4 work=$5 config=$6 dtype=$7 build_opts=$8
shift 8
root=$(cd "$(dirname "$0")/../.." && pwd)
cc=${CC:-$(command -v clang-19 || command -v clang || command -v cc)}
rm -rf "$work"
mkdir -p "$work"
"$lmcc" synth "$root/$config" -o "$work/ckpt" --seed 7 --dtype "$dtype" > /dev/null
# shellcheck disable=SC2086 # the options are words
"$lmcc" build "$root/$config" -o "$work/model" $build_opts > /dev/null
header=$(cd "$work/model" && ls ./*.h)
header=${header#./}
name=${header%.h}
# shellcheck disable=SC2086
"$cc" -std=c17 $cflags -I "$root/runtime" -I "$work/model" \
  -DMODEL_HEADER="\"$header\"" -DMODEL_DESC="${name}_model" \
  -o "$work/batch_check" "$root/tests/batch/batch_check.c" "$work/model/lib$name.a" "$runtime_lib" $libs
"$work/batch_check" "$work/ckpt" "$@"
