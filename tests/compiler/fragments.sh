#!/usr/bin/env bash
# lmcc build --emit-only writes Make and CMake fragments; building the model
# through each from another project gives an executable that runs and
# generates the same ids as the one lmcc builds itself.
set -euo pipefail
# cc: the compiler the runtime was built with (a sanitizer build's runtime
# needs that compiler's sanitizer library: clang-19's UBSan checks function
# pointer types, which gcc's and older clangs' libraries do not provide).
lmcc=$1 work=$2 runtime_lib=$3 extra=${4:-} cc=${5:-cc}
home=$(pwd)
rm -rf "$work" && mkdir -p "$work"
cfg=configs/test/qwen3-tiny.yaml
"$lmcc" synth "$cfg" -o "$work/ckpt" --seed 5 2>/dev/null
"$lmcc" build "$cfg" -o "$work/lmcc" 2>/dev/null
want=$("$work/lmcc/qwen3-tiny" -m "$work/ckpt" --tokens 3,1,4,1,5 -n 6)

"$lmcc" build "$cfg" --emit-only -o "$work/make/model" 2>/dev/null
cat > "$work/make/Makefile" <<MK
LMCC_HOME := $home
LMCC_RUNTIME_LIB := $runtime_lib
LMCC_EXTRA_FLAGS := $extra
include model/qwen3_tiny.mk
all: \$(QWEN3_TINY_EXE)
MK
make -s -C "$work/make" CC="$cc" >/dev/null
got=$("$work/make/model/qwen3-tiny" -m "$work/ckpt" --tokens 3,1,4,1,5 -n 6)
[ "$got" = "$want" ] || { echo "make fragment: got $got, want $want" >&2; exit 1; }

"$lmcc" build "$cfg" --emit-only -o "$work/cmake/model" 2>/dev/null
cat > "$work/cmake/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.20)
project(embed C)
set(LMCC_HOME $home)
set(LMCC_RUNTIME_LIB $runtime_lib)
set(LMCC_EXTRA_FLAGS "$extra")
include(model/qwen3_tiny.cmake)
CM
cmake -S "$work/cmake" -B "$work/cmake/build" -DCMAKE_C_COMPILER="$cc" >/dev/null
cmake --build "$work/cmake/build" >/dev/null
got=$("$work/cmake/build/qwen3-tiny" -m "$work/ckpt" --tokens 3,1,4,1,5 -n 6)
[ "$got" = "$want" ] || { echo "cmake fragment: got $got, want $want" >&2; exit 1; }
echo "fragments: make and cmake builds generate $want, as lmcc's own build"
