#!/usr/bin/python3
"""Golden-output test: an lmcc-compiled model against the PyTorch reference.

  golden.py --lmcc LMCC --config CONFIG.yaml --work DIR --seed S --dtype f32|bf16
            [--shards K] --tol TOL [--prompt-len 24] [--gen 32]
            [--reference tests/reference/qwen3_ref.py] [--matmul-input bf16] [--batch B]

1. lmcc synth CONFIG -o DIR/ckpt --seed S --dtype D [--shards K]
2. lmcc build CONFIG -o DIR/bin            -> DIR/bin/<config name>
3. a deterministic pseudo-random prompt of --prompt-len ids
4. the compiled model and the reference (--reference, default
   tests/reference/qwen3_ref.py) each give the logits
   of every prompt position and --gen greedy ids
5. pass when max |logit difference| <= TOL and the greedy ids are identical.

With --build-dtype q8_0 the model is built with weights quantized at load
while the reference runs on the checkpoint's own weights: the logits differ
by design and greedy ids part at near-ties, so step 5 becomes: report the
max |logit difference| (against the reference logits' scale), the top-1
agreement (fraction of prompt positions whose argmax matches) and how many
greedy steps agree before the first difference; pass when the error is
<= TOL and the top-1 agreement >= --min-top1.
With --cross-aarch64 QEMU the model is built for AArch64 (NEON kernels)
and run under that user-mode emulator; with --cflags, compiled with those
extra flags (say -march=haswell, for the AVX2 kernels); the comparison is
the same.
With --matmul-input bf16 the model is built so and the reference rounds
each linear's input to bf16 the same way; with --kv-dtype bf16, likewise
keys and values as the KV cache keeps them. An input that lmcc and PyTorch
compute an f32 ulp apart can round to neighbouring bf16 values, so a few
logits part by more than in f32; --mean-tol then bounds the mean error too.
With --batch B the model is built with a prefill chunk of B tokens, so a
longer prompt goes through in several forward calls (a chunk's queries
then read keys that earlier calls left in the KV cache).
Exit status 0 on pass, 1 on failure.
"""

import argparse
import glob
import json
import os
import random
import re
import shutil
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_REFERENCE = os.path.join(HERE, "..", "reference", "qwen3_ref.py")
STEP_TIMEOUT_S = 240


class GoldenFailure(Exception):
    pass


def run(cmd, what, env=None):
    """Runs cmd; returns stdout, or raises with its stderr on any failure."""
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=STEP_TIMEOUT_S, env=env)
    except subprocess.TimeoutExpired:
        raise GoldenFailure(f"{what}: timed out after {STEP_TIMEOUT_S} s: {' '.join(cmd)}")
    except OSError as exc:
        raise GoldenFailure(f"{what}: cannot run {cmd[0]}: {exc}")
    if p.returncode != 0:
        raise GoldenFailure(f"{what}: exit status {p.returncode}: {' '.join(cmd)}\n"
                            f"--- stderr ---\n{p.stderr.rstrip()}\n--- stdout ---\n{p.stdout.rstrip()}")
    return p.stdout


def parse_ids(stdout, who):
    """The one line of comma-separated ids a generator prints."""
    lines = stdout.splitlines()
    if len(lines) != 1:
        raise GoldenFailure(f"{who}: expected exactly one line of ids on stdout, got {len(lines)}:\n{stdout}")
    try:
        return [int(t) for t in lines[0].split(",") if t.strip() != ""]
    except ValueError:
        raise GoldenFailure(f"{who}: stdout is not comma-separated ids: {lines[0]!r}")


def load_logits(path, who, n_tokens, vocab):
    try:
        a = np.load(path)
    except (OSError, ValueError) as exc:
        raise GoldenFailure(f"{who}: cannot read logits {path}: {exc}")
    if a.dtype != np.float32:
        raise GoldenFailure(f"{who}: logits {path} are {a.dtype}, expected float32")
    if a.shape != (n_tokens, vocab):
        raise GoldenFailure(f"{who}: logits {path} have shape {a.shape}, expected {(n_tokens, vocab)}")
    if not np.isfinite(a).all():
        pos, idx = np.argwhere(~np.isfinite(a))[0]
        raise GoldenFailure(f"{who}: logits are not finite, first at position {pos} vocab {idx}: {a[pos, idx]}")
    return a


def eos_ids(config):
    eos = config.get("eos_token_id")
    if eos is None:
        return set()
    return set(eos) if isinstance(eos, list) else {eos}


def compare_greedy(got, want, eos, ref_logits_fn):
    """Returns (matched, message). The compiled model may stop early on an
    end-of-sequence id; then the reference must have produced the same ids
    up to and including it."""
    n = len(got)
    if got == want:
        return True, f"greedy {len(want)}/{len(want)} match"
    if 0 < n < len(want) and got[-1] in eos and got == want[:n]:
        return True, f"greedy {n}/{n} match (stopped at end-of-sequence id {got[-1]})"
    first = next((i for i in range(min(n, len(want))) if got[i] != want[i]), min(n, len(want)))
    msg = (f"greedy ids differ at index {first}\n  lmcc:      {got}\n  reference: {want}")
    margin = ref_logits_fn(first)
    if margin is not None:
        msg += f"\n  reference top-2 logit margin at that step: {margin:.3g}"
    return False, msg


def main(argv=None):
    ap = argparse.ArgumentParser(description="lmcc golden-output test against the PyTorch reference")
    ap.add_argument("--lmcc", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--dtype", choices=["f32", "bf16"], required=True)
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--tol", type=float, required=True)
    ap.add_argument("--prompt-len", type=int, default=24)
    ap.add_argument("--gen", type=int, default=32)
    ap.add_argument("--reference", default=DEFAULT_REFERENCE,
                    help="PyTorch reference script with qwen3_ref.py's command line")
    ap.add_argument("--build-dtype", choices=["q8_0", "q4_0", "q4_k8"],
                    help="compile the weights to this dtype (quantized at load) while the reference "
                         "uses the checkpoint's; then greedy ids may differ, and the test checks "
                         "--tol and --min-top1 instead")
    ap.add_argument("--quantized-reference", action="store_true",
                    help="with --build-dtype: run the reference on the checkpoint quantized and "
                         "dequantized by tests/golden/quantize_ref.py (GGUF's formats, in NumPy), "
                         "each linear's input quantized to int8 as lmcc's kernels take it, "
                         "and hold lmcc to --tol and greedy agreement against it")
    ap.add_argument("--min-top1", type=float, default=1.0,
                    help="with --build-dtype: least fraction of prompt positions whose argmax "
                         "matches the reference's")
    ap.add_argument("--matmul-input", choices=["f32", "bf16"], default="f32",
                    help="lmcc build --matmul-input, mirrored by the reference")
    ap.add_argument("--kv-dtype", choices=["f32", "bf16"], default="f32",
                    help="lmcc build --kv-dtype, mirrored by the reference")
    ap.add_argument("--cross-aarch64", metavar="QEMU",
                    help="build the model for AArch64 (generated C and runtime cross-compiled with "
                         "--cross-cc) and run it under this user-mode emulator")
    ap.add_argument("--cross-cc", default="clang", help="the C compiler for --cross-aarch64")
    ap.add_argument("--cflags", default="",
                    help="extra flags for compiling the model (LMCC_CFLAGS), e.g. -march=haswell")
    ap.add_argument("--batch", type=int,
                    help="lmcc build --batch: the most tokens per forward call (the prefill chunk)")
    ap.add_argument("--mean-tol", type=float,
                    help="also require the mean |logit difference| to be at most this")
    args = ap.parse_args(argv)

    name = os.path.basename(args.config)
    if name.endswith(".yaml"):
        name = name[:-5]
    label = f"golden {name} {args.dtype}" + (f" {args.shards} shards" if args.shards > 1 else "")
    if args.build_dtype:
        label += f" built as {args.build_dtype}"
    if args.matmul_input != "f32":
        label += f" with {args.matmul_input} matmul inputs"
    if args.kv_dtype != "f32":
        label += f" with a {args.kv_dtype} KV cache"
    if args.cross_aarch64:
        label += " on AArch64 (emulated)"
    if args.cflags:
        label += f" built with {args.cflags}"
    if args.batch:
        label += f" in prefill chunks of {args.batch}"
    try:
        summary = golden(args, name)
    except GoldenFailure as exc:
        print(f"{label}: FAIL: {exc}")
        return 1
    print(f"{label}: {summary}")
    return 0


def cross_build_aarch64(args, build, bindir, name):
    """lmcc build --emit-only, then the generated C and the runtime compiled
    for AArch64 (clang --target, Debian's arm64 cross libc and :arm64
    libraries, linked statically); returns the executable's path."""
    run(build + ["--emit-only"], "lmcc build --emit-only")
    root = os.path.abspath(os.path.join(HERE, "..", ".."))
    cname = re.sub(r"[^0-9A-Za-z]", "_", name).lower()  # as emit.lua's c_name
    if cname[0].isdigit():
        cname = "m_" + cname
    # What a model links: runtime/hub's downloads are lmcc's alone (libcurl,
    # OpenSSL, which the arm64 sysroot lacks); a model takes hub_cache.c.
    # Nor --serve (runtime/serve): Debian's static libmicrohttpd would pull
    # in GnuTLS and its dependencies; LM_NO_SERVE leaves the option out.
    def linked(f):
        folder = os.path.basename(os.path.dirname(f))
        return folder != "serve" and (folder != "hub" or f.endswith("hub_cache.c"))
    runtime = sorted(f for f in glob.glob(os.path.join(root, "runtime", "**", "*.c"), recursive=True)
                     if linked(f))
    exe = os.path.join(bindir, name)
    run([args.cross_cc, "--target=aarch64-linux-gnu", "-O2", "-std=c17", "-D_GNU_SOURCE", "-march=armv8.2-a",
         "-DLM_NO_SERVE", "-w", "-I" + os.path.join(root, "runtime"), "-I" + bindir,
         os.path.join(bindir, cname + ".c"), os.path.join(bindir, cname + "_main.c")] + runtime +
        ["-L/usr/lib/aarch64-linux-gnu", "-static", "-ljansson", "-lpcre2-8", "-lutf8proc", "-lpthread", "-lm",
         "-o", exe], "cross compile for AArch64")
    return exe


def golden(args, name):
    work = os.path.abspath(args.work)
    ckpt, bindir = os.path.join(work, "ckpt"), os.path.join(work, "bin")
    # Start clean so nothing from an earlier run can pass for this one.
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    # Quantized builds keep their weights in the weight cache: this run's,
    # not the user's (the greedy run then reads what the logits run wrote).
    os.environ["LMCC_WEIGHT_CACHE"] = os.path.join(work, "weight-cache")

    synth = [args.lmcc, "synth", args.config, "-o", ckpt, "--seed", str(args.seed), "--dtype", args.dtype]
    if args.shards > 1:
        synth += ["--shards", str(args.shards)]
    run(synth, "lmcc synth")
    build = [args.lmcc, "build", args.config, "-o", bindir]
    if args.build_dtype:
        build += ["--dtype", args.build_dtype]
    # Both spelled out: a bf16 build's defaults round (bf16), an f32 one's
    # do not, and the reference must round exactly as the build does.
    build += ["--matmul-input", args.matmul_input, "--kv-dtype", args.kv_dtype]
    if args.batch:
        build += ["--batch", str(args.batch)]
    if args.cross_aarch64:
        exe = cross_build_aarch64(args, build, bindir, name)
    else:
        env = dict(os.environ, LMCC_CFLAGS=args.cflags) if args.cflags else None
        run(build, "lmcc build", env)
        exe = os.path.join(bindir, name)
    if not os.access(exe, os.X_OK):
        found = sorted(os.listdir(bindir)) if os.path.isdir(bindir) else []
        raise GoldenFailure(f"lmcc build did not produce the executable {exe} (found: {found})")
    if args.cross_aarch64:
        # The AArch64 executable runs under user-mode emulation.
        def run_model(cmd, what):
            return run([args.cross_aarch64] + cmd, what)
    else:
        run_model = run

    try:
        with open(os.path.join(ckpt, "config.json")) as f:
            config = json.load(f)
        # A multimodal checkpoint keeps its text model's settings in text_config.
        vocab = int(config.get("text_config", config)["vocab_size"])
    except (OSError, ValueError, KeyError) as exc:
        raise GoldenFailure(f"cannot read vocab_size from {ckpt}/config.json: {exc}")

    # The prompt depends only on the seed, so a failure reproduces exactly.
    rng = random.Random(1_000_003 * args.seed + 17)
    prompt = [rng.randrange(vocab) for _ in range(args.prompt_len)]
    ids = ",".join(str(t) for t in prompt)

    lmcc_logits_path = os.path.join(work, "lmcc_logits.npy")
    ref_logits_path = os.path.join(work, "ref_logits.npy")
    run_model([exe, "-m", ckpt, "--tokens", ids, "--logits", lmcc_logits_path, "-n", "0"], "model --logits")
    # Greedy decoding: ask for it explicitly once the executable has sampling
    # options, since a sampling default would make the ids random.
    greedy = ["--temperature", "0"] if "--temperature" in run_model([exe, "--help"], "model --help") else []
    got_ids = parse_ids(run_model([exe, "-m", ckpt, "--tokens", ids, "-n", str(args.gen)] + greedy, "model -n"),
                        "model")
    reference = os.path.abspath(args.reference)
    ref_opts = ["--matmul-input", args.matmul_input, "--kv-dtype", args.kv_dtype]
    ref_ckpt = ckpt
    if args.quantized_reference:
        # The weights quantized as GGUF does, and each linear's input as
        # lmcc's quantized kernels take it.
        ref_opts.append("--int8-inputs")
        ref_ckpt = os.path.join(work, "ckpt-" + args.build_dtype)
        run([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)), "quantize_ref.py"),
             ckpt, ref_ckpt, "--dtype", args.build_dtype], "quantize_ref.py")
    ref_out = run([sys.executable, reference, ref_ckpt, "--tokens", ids, "--logits", ref_logits_path,
                   "-n", str(args.gen)] + ref_opts, "reference")
    want_ids = parse_ids(ref_out, "reference")

    got = load_logits(lmcc_logits_path, "model", len(prompt), vocab)
    want = load_logits(ref_logits_path, "reference", len(prompt), vocab)
    diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
    pos, idx = np.unravel_index(int(np.argmax(diff)), diff.shape)
    err = float(diff[pos, idx])
    mean_err = float(np.mean(diff))
    logits_ok = err <= args.tol and (args.mean_tol is None or mean_err <= args.mean_tol)

    def ref_margin(step):
        # Near-ties make greedy fragile: report how close the reference's
        # top two were where the sequences part.
        seq = prompt + want_ids[:step]
        tmp = os.path.join(work, "ref_step_logits.npy")
        try:
            run([sys.executable, reference, ref_ckpt, "--tokens", ",".join(map(str, seq)), "--logits", tmp]
                + ref_opts, "reference margin")
            last = np.sort(np.load(tmp)[-1])
            return float(last[-1] - last[-2])
        except (GoldenFailure, OSError, ValueError):
            return None

    if args.build_dtype and not args.quantized_reference:
        # Quantized weights: the logits differ by design, so measure how much.
        top1 = float(np.mean(np.argmax(got, axis=1) == np.argmax(want, axis=1)))
        prefix = next((i for i, (a, b) in enumerate(zip(got_ids, want_ids)) if a != b),
                      min(len(got_ids), len(want_ids)))
        scale = float(np.max(np.abs(want)))
        rms = float(np.sqrt(np.mean(want.astype(np.float64) ** 2)))
        summary = (f"max_abs_err={err:.3g} (tol {args.tol:.0e}; reference logits: largest {scale:.3g}, "
                   f"rms {rms:.3g}), mean_abs_err={float(np.mean(diff)):.3g}, "
                   f"top-1 agreement {top1:.3f} over {len(prompt)} positions (min {args.min_top1}), "
                   f"greedy ids agree for the first {prefix} of {len(want_ids)} steps")
        if not (logits_ok and top1 >= args.min_top1):
            raise GoldenFailure(summary)
        return summary
    gen_ok, gen_msg = compare_greedy(got_ids, want_ids, eos_ids(config), ref_margin)
    mean_msg = "" if args.mean_tol is None else f", mean_abs_err={mean_err:.2g} (tol {args.mean_tol:.0e})"
    summary = (f"max_abs_err={err:.2g} (tol {args.tol:.0e}) at position {pos} vocab {idx}{mean_msg}"
               f"{'' if logits_ok else ' EXCEEDS TOLERANCE'}, {gen_msg}")
    if not logits_ok:
        summary += f"\n  worst logit: lmcc {got[pos, idx]!r}, reference {want[pos, idx]!r}"
    if not (logits_ok and gen_ok):
        raise GoldenFailure(summary)
    return summary


if __name__ == "__main__":
    sys.exit(main())
