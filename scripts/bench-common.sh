# shellcheck shell=bash disable=SC2154 # say, die and lmcc come from the sourcing script
# Shell functions the benchmark scripts share (sourced, not run). They need
# say, die and lmcc set by the script that sources them.

# The random bf16 checkpoint of a model (seed 1) in DIR, made once: a
# .complete marker says a synth finished, so a cut-off run is redone.
bench_checkpoint() { # DIR CONFIG
  local ckpt=$1 config=$2
  if [ ! -f "$ckpt/.complete" ]; then
    say "making a random checkpoint of $config (once; cached in $ckpt)"
    rm -rf "$ckpt"
    "$lmcc" synth "$config" -o "$ckpt" --seed 1 --dtype bf16 >&2 || die "lmcc synth $config failed"
    touch "$ckpt/.complete"
  fi
}

# The gguf-py directory of a llama.cpp tree, given the tree or a bin
# directory inside it; empty when there is none.
peer_gguf_py() { # DIR
  local g
  for g in "$1/gguf-py" "$1/../gguf-py" "$1/../../gguf-py"; do
    [ -f "$g/gguf/__init__.py" ] && { (cd "$g" && pwd); return; }
  done
  echo ""
}

# The directory holding PROGRAM among DIR/build/bin, DIR/bin and DIR.
peer_bin() { # DIR PROGRAM
  local b
  for b in "$1/build/bin" "$1/bin" "$1"; do
    [ -x "$b/$2" ] && { (cd "$b" && pwd); return; }
  done
  die "$1: no $2 in $1/build/bin, $1/bin or $1; build llama.cpp's $2 target there first"
}

# The peers given as llama.cpp and ik_llama.cpp trees (either may be
# empty): sets peers (name:bin:flags, ik_llama.cpp with IK_FLAGS), gguf_py
# and quantize (the first tree's that has them), and refuses a run that
# lacks what DTYPES need. PROGRAM is the peer binary the script runs.
find_peers() { # PROGRAM LLAMA_DIR IK_DIR IK_FLAGS DTYPES
  local spec pname pdir pflags pbin
  peers=() gguf_py="" quantize=""
  for spec in "llama.cpp:$2:" "ik_llama.cpp:$3:$4"; do
    IFS=: read -r pname pdir pflags <<< "$spec"
    [ -n "$pdir" ] || continue
    pbin=$(peer_bin "$pdir" "$1")
    peers+=("$pname:$pbin:$pflags")
    [ -n "$gguf_py" ] || gguf_py=$(peer_gguf_py "$pdir")
    [ -n "$quantize" ] || { [ -x "$pbin/llama-quantize" ] && quantize=$pbin/llama-quantize; }
  done
  [ "${#peers[@]}" -gt 0 ] || return 0
  [ -n "$gguf_py" ] || die "no gguf-py directory beside the llama.cpp builds given; pass the source trees"
  [ -n "$quantize" ] || [ "$5" = bf16 ] || die "no llama-quantize in the builds given; build its target too"
}

# STEM-DTYPE.gguf of checkpoint CKPT, made once: bf16 with llama.cpp's own
# writer (scripts/gguf_from_checkpoint.py, the tree's gguf-py), another
# dtype from that with llama-quantize --pure (every matrix in the one type,
# as lmcc's --dtype does; its log in LOG). Needs gguf_py and quantize.
peer_gguf() { # CKPT STEM DTYPE LOG
  local bf16=$2-bf16.gguf out=$2-$3.gguf
  [ -f "$out" ] && return 0
  if [ ! -f "$bf16" ]; then
    say "writing $bf16 with llama.cpp's GGUF writer"
    /usr/bin/python3 scripts/gguf_from_checkpoint.py "$1" "$bf16.tmp" --gguf-py "$gguf_py" >&2 \
      || die "gguf_from_checkpoint.py failed"
    mv "$bf16.tmp" "$bf16"
  fi
  [ "$3" = bf16 ] && return 0
  say "quantizing $out (llama-quantize --pure $3)"
  "$quantize" --pure "$bf16" "$out.tmp" "$3" "$(nproc)" > "$4" 2>&1 || die "llama-quantize failed (log: $4)"
  mv "$out.tmp" "$out"
}
