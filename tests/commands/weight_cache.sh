#!/usr/bin/env bash
# The weight cache (runtime/weights/weight_cache.h): a q4_0 model quantizes
# at its first load and writes the cache; later loads map it in place (read
# it with LMCC_HUGE_PAGES=0) and generate the same ids; a checkpoint
# rewritten (new mtime) or a damaged cache file is not used, and the cache
# is rewritten; LMCC_WEIGHT_CACHE=0 writes none; a build that quantizes
# nothing writes none.
set -euo pipefail
lmcc=$1 work=$2
rm -rf "$work" && mkdir -p "$work"
fail() { echo "weight_cache: $*" >&2; exit 1; }
cfg=configs/test/qwen3-tiny.yaml
"$lmcc" synth "$cfg" -o "$work/ckpt" --seed 3 2>/dev/null
"$lmcc" build "$cfg" --dtype q4_0 -o "$work/q4" 2>/dev/null
export LMCC_WEIGHT_CACHE=$work/wc
run() { "$work/q4/qwen3-tiny" -m "$work/ckpt" --tokens 5,6,7 -n 6 --stats 2> "$work/stats"; }
cached() { grep -q "quantized weights from the weight cache" "$work/stats"; }

want=$(run)
cached && fail "the first load cannot come from the cache"
files=("$work"/wc/*.lmw)
[ ${#files[@]} -eq 1 ] && [ -s "${files[0]}" ] || fail "the first load wrote no cache file"
got=$(run)
cached || fail "the second load did not read the cache"
[ "$got" = "$want" ] || fail "from the cache: $got, quantized: $want"
# Mapped in place unless transparent huge pages are off (then a copy on
# the arena's pages is as good); this model's arena is too small to probe
# whether the file system can do 2 MiB pages, so that does not decide.
thp=/sys/kernel/mm/transparent_hugepage/enabled
if [ -r $thp ] && ! grep -q '\[never\]' $thp; then
  grep -q "weight cache, mapped" "$work/stats" || fail "the cache was not mapped in place: $(grep load: "$work/stats")"
fi
got=$(LMCC_HUGE_PAGES=0 run)
grep -q "weight cache, read" "$work/stats" || fail "with LMCC_HUGE_PAGES=0 the cache is read, not mapped: $(grep load: "$work/stats")"
[ "$got" = "$want" ] || fail "read from the cache: $got, quantized: $want"

touch -d '2001-01-01' "$work/ckpt/model.safetensors"
got=$(run)
cached && fail "a rewritten checkpoint must not use the old cache"
[ "$got" = "$want" ] || fail "after the checkpoint changed: $got, want $want"
got=$(run)
cached || fail "the cache for the changed checkpoint was not written"

for f in "$work"/wc/*.lmw; do truncate -s 100 "$f"; done
got=$(run)
cached && fail "a damaged cache file was used"
[ "$got" = "$want" ] || fail "after a damaged cache: $got, want $want"
got=$(run)
cached || fail "the damaged cache was not rewritten"

rm -rf "$work/wc"
LMCC_WEIGHT_CACHE=0 run > /dev/null
[ ! -e "$work/wc" ] || fail "LMCC_WEIGHT_CACHE=0 wrote a cache"
"$lmcc" build "$cfg" -o "$work/f32" 2>/dev/null
"$work/f32/qwen3-tiny" -m "$work/ckpt" --tokens 5,6,7 -n 2 > /dev/null
[ ! -e "$work/wc" ] || fail "an f32 build, which quantizes nothing, wrote a cache"
echo "weight_cache: ok ($want)"
