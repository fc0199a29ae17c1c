#!/usr/bin/env python3
"""qwen.tiktoken test: Qwen1's and Qwen3's vocabularies are the same 151643
byte strings with the same ids, so a qwen.tiktoken derived from Qwen3's
tokenizer.json (each token's byte-level string mapped back to its bytes,
base64, rank = id) must tokenize ordinary text, and Qwen1's special tokens
<|endoftext|> <|im_start|> <|im_end|>, to the same ids as tokenizer.json,
through tiktoken's merge rule instead of the merge list."""
import argparse
import base64
import glob
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden_tokenizer import FUZZ_PIECES  # noqa: E402


def byte_level_decoder():
    """GPT-2's bytes_to_unicode, inverted: character -> byte."""
    printable = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[chr(b)] = b
        else:
            chars[chr(256 + extra)] = b
            extra += 1
    return chars


def write_tiktoken(tokenizer_json, out_path):
    vocab = json.load(open(tokenizer_json, encoding="utf-8"))["model"]["vocab"]
    dec = byte_level_decoder()
    lines = []
    for token, rank in sorted(vocab.items(), key=lambda kv: kv[1]):
        raw = bytes(dec[c] for c in token)
        lines.append(f"{base64.b64encode(raw).decode()} {rank}\n")
    with open(out_path + ".tmp", "w") as f:
        f.writelines(lines)
    os.replace(out_path + ".tmp", out_path)
    return len(lines)


def ids_each(lmcc, tokenizer, args, n):
    """The ids of each of n inputs (lmcc tokenize prints a line for each)."""
    r = subprocess.run([lmcc, "tokenize", tokenizer, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if r.returncode != 0:
        raise RuntimeError(f"lmcc tokenize {tokenizer}: {r.stderr.decode(errors='replace')}")
    lines = r.stdout.decode().split("\n")
    if len(lines) != n + 1 or lines[-1]:
        raise RuntimeError(f"lmcc tokenize {tokenizer} printed {len(lines) - 1} lines for {n} inputs")
    return [[int(x) for x in line.split(",")] if line else [] for line in lines[:-1]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lmcc", required=True)
    ap.add_argument("--tokenizer-json", required=True)
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--work", required=True)
    args = ap.parse_args()

    qwen1_dir = os.path.join(args.work, "qwen1")
    os.makedirs(qwen1_dir, exist_ok=True)
    n = write_tiktoken(args.tokenizer_json, os.path.join(qwen1_dir, "qwen.tiktoken"))

    # Qwen3's other added tokens (<think>, <tool_call>...) are not Qwen1's.
    qwen3_only = ("<think>", "</think>", "<tool_call>", "<|fim")
    cases = [p for p in sorted(glob.glob(os.path.join(args.corpus, "*.txt")))
             if not any(m in open(p, encoding="utf-8").read() for m in qwen3_only)]
    import random
    rng = random.Random(7)
    pieces = [p for p in FUZZ_PIECES if "think" not in p]
    fuzz = os.path.join(args.work, "tiktoken-fuzz.txt")
    with open(fuzz, "w", encoding="utf-8", newline="") as f:
        f.write("".join(rng.choice(pieces) for _ in range(3000)))
    cases.append(fuzz)

    failures = 0
    # All files in one call for each tokenizer (one load each).
    files = [a for p in cases for a in ("-f", p)]
    for path, want, got in zip(cases, ids_each(args.lmcc, args.tokenizer_json, files, len(cases)),
                               ids_each(args.lmcc, qwen1_dir, files, len(cases))):
        if got != want:
            i = next((k for k, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
            print(f"FAIL {os.path.basename(path)}: qwen.tiktoken ids differ at {i}: {got[i:i + 6]} vs "
                  f"tokenizer.json {want[i:i + 6]}")
            failures += 1
        else:
            print(f"ok   {os.path.basename(path)}: {len(got)} ids equal with qwen.tiktoken")

    # Qwen1's special tokens follow the ranks: endoftext, im_start, im_end, extra_0..204.
    specials = {"<|endoftext|>": n, "<|im_start|>": n + 1, "<|im_end|>": n + 2,
                "<|extra_0|>": n + 3, "<|extra_204|>": n + 3 + 204}
    bad_specials = 0
    special_files = []
    for i, text in enumerate(specials):
        special_files += ["-f", os.path.join(args.work, f"special-{i}.txt")]
        with open(special_files[-1], "w", encoding="utf-8") as f:
            f.write(text)
    for (text, want), got in zip(specials.items(), ids_each(args.lmcc, qwen1_dir, special_files, len(specials))):
        if got != [want]:
            print(f"FAIL special {text}: {got}, expected [{want}]")
            bad_specials += 1
    if not bad_specials:
        print(f"ok   special tokens at ids {n}..{n + 207}")
    failures += 1 if bad_specials else 0

    total = len(cases) + 1
    print(f"{total - failures} passed, {failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
