#!/usr/bin/env bash
# lmcc new-arch, end to end in a scratch copy of the tree: scaffold an
# architecture, build its tiny config, synthesize a checkpoint, run it, and
# (with Debian's python3-torch) pass the golden test with the scaffolded
# reference; then the refusals, which must leave the tree as it was.
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
for want in "What remains" "configs/registry.yaml" "tests/reference/mymodel_ref.py"; do
  grep -qF "$want" <<< "$out" || fail "the printed list lacks '$want'"
done

"$lmcc" build "$tree/configs/test/mymodel-tiny.yaml" -o "$work/bin" > /dev/null 2>&1 || fail "build of the scaffold"
"$lmcc" synth "$tree/configs/test/mymodel-tiny.yaml" -o "$work/ck" --seed 5 > /dev/null 2>&1 || fail "synth of the scaffold"
ids=$("$work/bin/mymodel-tiny" -m "$work/ck" --tokens 1,2,3 -n 8)
[ "$(tr ',' '\n' <<< "$ids" | wc -l)" -eq 8 ] || fail "expected 8 generated ids, got '$ids'"
grep -q '"model_type": "mymodel"' "$work/ck/config.json" || fail "config.json lacks model_type mymodel"
echo "ok   scaffolded mymodel builds, synthesizes and generates: $ids"

if /usr/bin/python3 -c 'import torch' 2> /dev/null; then
  /usr/bin/python3 "$src/tests/golden/golden.py" --lmcc "$lmcc" \
    --config "$tree/configs/test/mymodel-tiny.yaml" --work "$work/golden" --seed 7 --dtype f32 \
    --tol 1e-4 --reference "$tree/tests/reference/mymodel_ref.py" > "$work/golden.log" 2>&1 \
    || { cat "$work/golden.log"; fail "golden test of the scaffold"; }
  echo "ok   $(tail -n 1 "$work/golden.log")"
fi

# Refusals: one error line, the right status, the tree untouched.
snapshot() { (cd "$tree" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }
before=$(snapshot)
refuse() { # status, message part, args...
  local want=$1 part=$2; shift 2
  local err rc=0
  err=$("$lmcc" new-arch "$@" 2>&1 > /dev/null) || rc=$?
  [ "$rc" -eq "$want" ] || fail "new-arch $*: exit $rc, want $want"
  [ "$(wc -l <<< "$err")" -eq 1 ] || fail "new-arch $*: more than one error line: $err"
  grep -qF "lmcc: error: " <<< "$err" && grep -qF "$part" <<< "$err" || fail "new-arch $*: '$err' lacks '$part'"
  [ "$(snapshot)" = "$before" ] || fail "new-arch $* changed the tree"
  echo "ok   new-arch $*: $err"
}
refuse 1 "already exists" mymodel
refuse 1 "already exists" qwen3 --from qwen1
refuse 1 "is not a name for an architecture" My-Model
refuse 1 "compiler/archs/nosuch.lua: not in the tree" other --from nosuch
refuse 2 "expected one NAME"
echo "new-arch: scaffold, build, run and refusals pass"
