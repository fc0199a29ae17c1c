#!/usr/bin/python3
"""Golden test on lmcc's trained model (tools/kjv/checkpoint) and held-out text.

  trained.py --lmcc LMCC --config CONFIG.yaml --ckpt DIR --text HELDOUT.txt --work DIR
             [--build-dtype f32|bf16|q8_0|q4_0|q4_k8] [--prompt-len 64] [--gen 32] [--chunk 256]
             [--tol T --mean-tol M] [--max-ppl-increase R]

Random weights give nearly flat logits; a trained model's are peaked, so
this catches what the synthetic golden tests cannot (and the reverse).

1. lmcc build CONFIG --dtype D -o WORK/bin; the held-out text tokenized by
   `lmcc tokenize CKPT -f TEXT`.
2. The first --prompt-len ids as a prompt: the compiled model's logits of
   every position and --gen greedy ids, against the PyTorch reference
   (tests/reference/qwen3_ref.py; for bf16, rounding the linears' inputs and
   the KV cache to bf16 as the default bf16 build does); the greedy ids
   decode to the same text (printed).
3. --perplexity of the whole text in chunks of --chunk tokens, against the
   reference's --perplexity-chunk on the same ids: f32 and bf16 must agree
   within 1e-3 in mean negative log-likelihood.
For the quantized types the reference stays f32 on the stored weights:
step 2 reports the logit error and top-1 agreement, step 3 the perplexity
increase, which must stay under --max-ppl-increase (a fraction).
"""

import argparse
import json
import math
import os
import shutil
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from golden import GoldenFailure, compare_greedy, load_logits, parse_ids, run  # noqa: E402

REFERENCE = os.path.join(HERE, "..", "reference", "qwen3_ref.py")
PPL_TOL = 1e-3


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lmcc", required=True)
    ap.add_argument("--config", required=True)
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--text", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--build-dtype", choices=["f32", "bf16", "q8_0", "q4_0", "q4_k8"], default="bf16")
    ap.add_argument("--prompt-len", type=int, default=64)
    ap.add_argument("--gen", type=int, default=32)
    ap.add_argument("--chunk", type=int, default=256)
    ap.add_argument("--tol", type=float, default=1e-3, help="max |logit difference| (f32, bf16)")
    ap.add_argument("--mean-tol", type=float, default=1e-4, help="mean |logit difference| (f32, bf16)")
    ap.add_argument("--max-ppl-increase", type=float, default=0.0,
                    help="quantized types: the largest perplexity increase over the f32 reference")
    args = ap.parse_args(argv)
    quantized = args.build_dtype not in ("f32", "bf16")

    work = os.path.abspath(args.work)
    if os.path.isdir(work):
        shutil.rmtree(work)
    os.makedirs(work)
    bindir = os.path.join(work, "bin")
    run([args.lmcc, "build", args.config, "--dtype", args.build_dtype, "-o", bindir], "lmcc build")
    name = os.path.splitext(os.path.basename(args.config))[0]
    exe = os.path.join(bindir, name)

    ids = parse_ids(run([args.lmcc, "tokenize", args.ckpt, "-f", args.text], "lmcc tokenize"), "lmcc tokenize")
    if len(ids) < args.prompt_len + 2:
        raise GoldenFailure(f"{args.text}: {len(ids)} tokens, fewer than the prompt needs")
    ids_path = os.path.join(work, "heldout.ids")
    with open(ids_path, "w") as f:
        f.write(",".join(map(str, ids)))
    with open(os.path.join(args.ckpt, "config.json")) as f:
        config = json.load(f)
    vocab = config["vocab_size"]
    # The default bf16 build rounds the linears' inputs and the KV cache to
    # bf16; the reference does the same for that row, and stays f32 otherwise.
    ref_opts = ["--matmul-input", "bf16", "--kv-dtype", "bf16"] if args.build_dtype == "bf16" else []

    prompt = ",".join(map(str, ids[:args.prompt_len]))
    got_path, want_path = os.path.join(work, "lmcc_logits.npy"), os.path.join(work, "ref_logits.npy")
    got_ids = parse_ids(run([exe, "-m", args.ckpt, "--tokens", prompt, "--logits", got_path, "-n", str(args.gen)],
                            "model --logits"), "model")
    want_ids = parse_ids(run([sys.executable, REFERENCE, args.ckpt, "--tokens", prompt, "--logits", want_path,
                              "-n", str(args.gen)] + ref_opts, "reference"), "reference")
    got = load_logits(got_path, "model", args.prompt_len, vocab)
    want = load_logits(want_path, "reference", args.prompt_len, vocab)
    diff = np.abs(got - want)
    err, mean_err = float(diff.max()), float(diff.mean())
    top1 = float(np.mean(np.argmax(got, axis=1) == np.argmax(want, axis=1)))
    scale = float(np.abs(want).max())
    print(f"{name} {args.build_dtype}: {args.prompt_len} held-out prompt positions: max |logit err| {err:.3g}, "
          f"mean {mean_err:.3g} (reference logits up to {scale:.3g}); top-1 agreement {top1:.3f}")

    eos = {config["eos_token_id"]} if "eos_token_id" in config else set()
    gen_ok, gen_msg = compare_greedy(got_ids, want_ids, eos, lambda step: None)
    text = run([args.lmcc, "detokenize", args.ckpt, ",".join(map(str, got_ids))], "lmcc detokenize")
    print(f"greedy continuation ({gen_msg}):\n  prompt tail: ...{run([args.lmcc, 'detokenize', args.ckpt, prompt], 'lmcc detokenize')[-80:]!r}\n"
          f"  lmcc:        {text!r}")

    mine = json.loads(run([exe, "-m", args.ckpt, "--perplexity", args.text, "--chunk", str(args.chunk)],
                          "model --perplexity"))
    ref = json.loads(run([sys.executable, REFERENCE, args.ckpt, "--tokens", "@" + ids_path,
                          "--perplexity-chunk", str(args.chunk)] + ref_opts, "reference perplexity"))
    if (mine["tokens"], mine["scored"], mine["chunks"]) != (len(ids), ref["scored"], ref["chunks"]):
        raise GoldenFailure(f"perplexity counted {mine['tokens']} tokens, {mine['scored']} scored in "
                            f"{mine['chunks']} chunks; the reference {len(ids)}, {ref['scored']}, {ref['chunks']}")
    d_nll = mine["nll"] - ref["nll"]
    increase = mine["perplexity"] / ref["perplexity"] - 1
    print(f"perplexity over {mine['tokens']} held-out tokens in chunks of {args.chunk}: lmcc {mine['perplexity']:.4f} "
          f"(nll {mine['nll']:.6f}), reference {ref['perplexity']:.4f} (nll {ref['nll']:.6f}): "
          f"nll difference {d_nll:+.2e}, perplexity {100 * increase:+.3f}%")

    failures = []
    if quantized:
        if increase > args.max_ppl_increase:
            failures.append(f"perplexity increase {100 * increase:.2f}% exceeds {100 * args.max_ppl_increase:.2f}%")
    else:
        if err > args.tol or mean_err > args.mean_tol:
            failures.append(f"logit error {err:.3g} (mean {mean_err:.3g}) exceeds {args.tol} (mean {args.mean_tol})")
        if not gen_ok:
            failures.append(gen_msg)
        if abs(d_nll) > PPL_TOL:
            failures.append(f"nll differs by {d_nll:.2e}, more than {PPL_TOL}")
    for f in failures:
        print("FAIL " + f)
    print("PASS" if not failures else "FAILED")
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except GoldenFailure as exc:
        print(f"FAIL {exc}")
        sys.exit(1)
