#!/usr/bin/env bash
# lmcc new-arch, end to end in a scratch copy of the tree: scaffold an
# architecture (from qwen3, the default, and from llama), build its tiny
# config, synthesize a checkpoint, run it, and (with Debian's python3-torch)
# pass the golden test with the scaffolded reference; then the refusals and
# a failure part-way, which must leave the tree as it was.
#   new_arch.sh LMCC SOURCE_TREE WORK
set -euo pipefail
lmcc=$1 src=$2 work=$3
fail() { echo "FAIL: $*" >&2; exit 1; }

rm -rf "$work"
tree=$work/tree
mkdir -p "$tree/tests"
cp -r "$src/compiler" "$src/configs" "$src/templates" "$src/runtime" "$src/docs" "$tree/"
cp -r "$src/tests/reference" "$src/tests/golden" "$tree/tests/"
export LMCC_HOME=$tree

out=$("$lmcc" new-arch mymodel) || fail "new-arch mymodel exited $?"
for f in compiler/archs/mymodel.lua configs/mymodel/mymodel-0.6b.yaml \
         configs/test/mymodel-tiny.yaml tests/reference/mymodel_ref.py docs/models/Mymodel.md; do
  [ -f "$tree/$f" ] || fail "new-arch did not write $f"
  grep -q "TODO(new-arch)" "$tree/$f" || fail "$f has no TODO(new-arch) mark"
done
grep -q '"mymodel-tiny|configs/test/mymodel-tiny.yaml|' "$tree/tests/golden/golden.test.cmake" \
  || fail "no golden row for mymodel-tiny"
# Each Hugging Face placeholder (hf_model_type, model_type, architectures)
# is on a line of its own mark.
marks=$(grep -c 'TODO(new-arch): placeholder' "$tree/compiler/archs/mymodel.lua" || true)
[ "$marks" -eq 3 ] || fail "mymodel.lua marks $marks placeholder lines, want 3"
grep -q '^return arch "mymodel" {$' "$tree/compiler/archs/mymodel.lua" || fail "mymodel.lua is not arch mymodel"
for want in "What remains" "configs/registry.yaml" "tests/reference/mymodel_ref.py" \
            "docs/models/Mymodel.md" "tests/golden/golden.test.cmake"; do
  grep -qF "$want" <<< "$out" || fail "the printed list lacks '$want'"
done
[ "$(grep -cE '^  [0-9]+\. ' <<< "$out")" -eq 8 ] || fail "the printed list has not 8 numbered steps: $out"

"$lmcc" build "$tree/configs/test/mymodel-tiny.yaml" -o "$work/bin" > /dev/null 2>&1 || fail "build of the scaffold"
"$lmcc" synth "$tree/configs/test/mymodel-tiny.yaml" -o "$work/ck" --seed 5 > /dev/null 2>&1 || fail "synth of the scaffold"
ids=$("$work/bin/mymodel-tiny" -m "$work/ck" --tokens 1,2,3 -n 8)
[ "$(tr ',' '\n' <<< "$ids" | wc -l)" -eq 8 ] || fail "expected 8 generated ids, got '$ids'"
grep -q '"model_type": "mymodel"' "$work/ck/config.json" || fail "config.json lacks model_type mymodel"
echo "ok   scaffolded mymodel builds, synthesizes and generates: $ids"

# From llama, whose script names model_type and class on one line.
"$lmcc" new-arch fromllama --from llama > /dev/null || fail "new-arch fromllama --from llama exited $?"
[ "$(grep -c 'TODO(new-arch): placeholder' "$tree/compiler/archs/fromllama.lua")" -eq 2 ] \
  || fail "fromllama.lua: want 2 placeholder lines"
"$lmcc" build "$tree/configs/test/fromllama-tiny.yaml" -o "$work/bin" > /dev/null 2>&1 || fail "build of fromllama"
"$lmcc" synth "$tree/configs/test/fromllama-tiny.yaml" -o "$work/ck-llama" --seed 5 > /dev/null 2>&1 || fail "synth of fromllama"
"$work/bin/fromllama-tiny" -m "$work/ck-llama" --tokens 1,2,3 -n 4 > /dev/null || fail "run of fromllama"
echo "ok   scaffolded fromllama (--from llama) builds, synthesizes and generates"

# From gemma3, whose hf_model_type is a list (gemma3_text, gemma3) and which
# names two classes: every one renamed and marked, so the copy claims none
# of Gemma 3's model types (import of a Gemma 3 config still picks gemma3,
# though fromgemma sorts first).
"$lmcc" new-arch fromgemma --from gemma3 > /dev/null || fail "new-arch fromgemma --from gemma3 exited $?"
script=$tree/compiler/archs/fromgemma.lua
grep -q 'hf_model_type = { "fromgemma_text", "fromgemma" },  -- TODO(new-arch): placeholder' "$script" \
  || fail "fromgemma.lua: hf_model_type not renamed: $(grep hf_model_type "$script")"
! grep -nE '"gemma3(_text)?"|"Gemma3For' "$script" || fail "fromgemma.lua still names Gemma 3's model types or classes"
"$lmcc" build "$tree/configs/test/fromgemma-tiny.yaml" -o "$work/bin" > /dev/null 2>&1 || fail "build of fromgemma"
"$lmcc" synth "$tree/configs/test/fromgemma-tiny.yaml" -o "$work/ck-gemma" --seed 5 > /dev/null 2>&1 || fail "synth of fromgemma"
"$work/bin/fromgemma-tiny" -m "$work/ck-gemma" --tokens 1,2,3 -n 4 > /dev/null || fail "run of fromgemma"
"$lmcc" import "$src/tests/data/hf_configs/gemma-3-4b.json" | grep -q '^arch: gemma3$' \
  || fail "import of a Gemma 3 config no longer picks gemma3 beside fromgemma"
echo "ok   scaffolded fromgemma (--from gemma3) renames both model types and classes, builds and runs"

if /usr/bin/python3 -c 'import torch' 2> /dev/null; then
  /usr/bin/python3 "$src/tests/golden/golden.py" --lmcc "$lmcc" \
    --config "$tree/configs/test/mymodel-tiny.yaml" --work "$work/golden" --seed 7 --dtype f32 \
    --tol 1e-4 --reference "$tree/tests/reference/mymodel_ref.py" > "$work/golden.log" 2>&1 \
    || { cat "$work/golden.log"; fail "golden test of the scaffold"; }
  echo "ok   $(tail -n 1 "$work/golden.log")"
fi

# Refusals: one error line, the right status, the tree untouched (its
# directories as well as its files). A golden row with no files stands in
# for one left behind by hand.
sed -i 's/^\(  "mymodel-tiny|.*"\)$/\1\n  "rowonly-tiny|configs\/test\/rowonly-tiny.yaml|f32|1|1e-4|rowonly_ref.py"/' \
  "$tree/tests/golden/golden.test.cmake"
grep -q '"rowonly-tiny|' "$tree/tests/golden/golden.test.cmake" || fail "could not add the rowonly row"
snapshot() { (cd "$tree" && find . -type d | sort && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
before=$(snapshot)
refuse() { # status, message part, args...
  local want=$1 part=$2; shift 2
  local err rc=0
  err=$("$lmcc" new-arch "$@" 2>&1 > /dev/null) || rc=$?
  [ "$rc" -eq "$want" ] || fail "new-arch $*: exit $rc, want $want"
  [ "$(wc -l <<< "$err")" -eq 1 ] || fail "new-arch $*: more than one error line: $err"
  grep -qF "lmcc: error: " <<< "$err" && grep -qF -- "$part" <<< "$err" || fail "new-arch $*: '$err' lacks '$part'"
  [ "$(snapshot)" = "$before" ] || fail "new-arch $* changed the tree"
  echo "ok   new-arch $*: $err"
}
refuse 1 "architecture mymodel exists (compiler/archs/mymodel.lua)" mymodel
refuse 1 "architecture qwen3 exists" qwen3 --from qwen1
refuse 1 "docs/models/Qwen3.md already exists" qwen_3
refuse 1 "already has a golden row rowonly-tiny" rowonly
refuse 1 "is not a name for an architecture" My-Model
refuse 1 "is not a name for an architecture" 3d
refuse 1 "compiler/archs/nosuch.lua: not in the tree" other --from nosuch
refuse 1 "--from '../qwen3' is not an architecture name" other --from ../qwen3
refuse 2 "expected one NAME"
refuse 2 "expected one NAME" one two
refuse 2 "unknown option '--bogus'" other --bogus
refuse 2 "no ARCH after '--from'" other --from

# A failure part-way (docs/models a file, so the page cannot be written
# after the script, configs and reference are) removes what the run wrote,
# configs/partial/ included.
mv "$tree/docs/models" "$tree/docs/models.away" && touch "$tree/docs/models"
before=$(snapshot)
refuse 1 "removed what this run wrote" partial
rm "$tree/docs/models" && mv "$tree/docs/models.away" "$tree/docs/models"

"$lmcc" new-arch --help | grep -q '^usage: lmcc new-arch NAME \[--from ARCH\]' || fail "new-arch --help"
echo "new-arch: scaffold, build, run and refusals pass"
