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
