"""Byte-level BPE training, written out as a Hugging Face tokenizer.json.

The file has the shape Qwen2 and Qwen3 ship (NFC normalizer, their split
regex, ByteLevel without a prefix space, BPE over GPT-2's byte alphabet), so
that lmcc's tokenizer, transformers and @lenml/tokenizers read it as they
read Qwen's. Training is the classic algorithm: count the pre-split pieces
of the corpus, then repeatedly merge the most frequent adjacent pair (ties:
the pair whose strings sort first), updating only the pieces that hold it.
"""

import collections
import heapq
import json

import regex

# Qwen2/Qwen3's pre-split (tokenizer.json pre_tokenizer.pretokenizers[0]).
SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
         r"|\s*[\r\n]+|\s+(?!\S)|\s+")

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def byte_alphabet():
    """GPT-2's bytes_to_unicode: each byte as a printable character."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars = {b: chr(b) for b in keep}
    n = 0
    for b in range(256):
        if b not in chars:
            chars[b] = chr(256 + n)
            n += 1
    return [chars[b] for b in range(256)]


def train(texts, vocab_size):
    """(vocab: token -> id, merges: [(a, b), ...]) with vocab_size entries
    including SPECIALS (which come last)."""
    alphabet = byte_alphabet()
    split = regex.compile(SPLIT)
    counts = collections.Counter()
    for text in texts:
        counts.update(split.findall(text))
    words = [[alphabet[b] for b in piece.encode("utf-8")] for piece in counts]
    freq = list(counts.values())

    pairs = collections.Counter()
    where = collections.defaultdict(set)
    for i, w in enumerate(words):
        for a, b in zip(w, w[1:]):
            pairs[(a, b)] += freq[i]
            where[(a, b)].add(i)
    heap = [(-c, p) for p, c in pairs.items()]
    heapq.heapify(heap)

    vocab = {ch: i for i, ch in enumerate(alphabet)}
    merges = []
    n_merges = vocab_size - len(alphabet) - len(SPECIALS)
    while len(merges) < n_merges and heap:
        negc, pair = heapq.heappop(heap)
        if pairs.get(pair, 0) != -negc:      # stale entry: its count changed
            if pairs.get(pair, 0) > 0:
                heapq.heappush(heap, (-pairs[pair], pair))
            continue
        if -negc < 2:
            break
        a, b = pair
        merged = a + b
        merges.append(pair)
        vocab[merged] = len(vocab)
        touched = set()
        for i in sorted(where.pop(pair, ())):
            w, f = words[i], freq[i]
            for x, y in zip(w, w[1:]):
                pairs[(x, y)] -= f
                touched.add((x, y))
            out, k = [], 0
            while k < len(w):
                if k + 1 < len(w) and w[k] == a and w[k + 1] == b:
                    out.append(merged)
                    k += 2
                else:
                    out.append(w[k])
                    k += 1
            words[i] = out
            for x, y in zip(out, out[1:]):
                pairs[(x, y)] += f
                where[(x, y)].add(i)
                touched.add((x, y))
        pairs.pop(pair, None)
        for p in touched:
            c = pairs.get(p, 0)
            if c > 0:
                heapq.heappush(heap, (-c, p))
            elif p in pairs:
                del pairs[p]
    for s in SPECIALS:
        vocab[s] = len(vocab)
    return vocab, merges


def tokenizer_json(vocab, merges):
    """The tokenizer.json document."""
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": vocab[s], "content": s, "single_word": False, "lstrip": False, "rstrip": False,
                          "normalized": False, "special": True} for s in SPECIALS],
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": SPLIT}, "behavior": "Isolated", "invert": False},
            byte_level]},
        "post_processor": dict(byte_level),
        "decoder": dict(byte_level),
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": {t: i for t, i in vocab.items() if t not in SPECIALS},
                  "merges": [[a, b] for a, b in merges]},
    }


def tokenizer_config(max_length):
    """tokenizer_config.json: the special tokens and no BOS, as Qwen3 has."""
    return {
        "add_bos_token": False,
        "add_prefix_space": False,
        "added_tokens_decoder": {},
        "bos_token": None,
        "clean_up_tokenization_spaces": False,
        "eos_token": "<|endoftext|>",
        "errors": "replace",
        "model_max_length": max_length,
        "pad_token": "<|endoftext|>",
        "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer",
        "unk_token": None,
    }


class Encoder:
    """Encoding with the trained merges, as transformers' BPE does it: each
    pre-split piece merged by rank, lowest first. The training script uses
    it to make the token stream; the tests check lmcc against
    @lenml/tokenizers, not against this."""

    def __init__(self, vocab, merges):
        self.vocab = vocab
        self.rank = {p: r for r, p in enumerate(merges)}
        self.alphabet = byte_alphabet()
        self.split = regex.compile(SPLIT)
        self.cache = {}

    def piece(self, piece):
        ids = self.cache.get(piece)
        if ids is not None:
            return ids
        w = [self.alphabet[b] for b in piece.encode("utf-8")]
        while len(w) > 1:
            best = min(range(len(w) - 1), key=lambda k: self.rank.get((w[k], w[k + 1]), 1 << 30))
            if (w[best], w[best + 1]) not in self.rank:
                break
            w[best:best + 2] = [w[best] + w[best + 1]]
        ids = [self.vocab[t] for t in w]
        self.cache[piece] = ids
        return ids

    def encode(self, text):
        out = []
        for piece in self.split.findall(text):
            out.extend(self.piece(piece))
        return out


def write(dirpath, vocab, merges, max_length):
    with open(f"{dirpath}/tokenizer.json", "w", encoding="utf-8") as f:
        json.dump(tokenizer_json(vocab, merges), f, ensure_ascii=False, indent=1)
        f.write("\n")
    with open(f"{dirpath}/tokenizer_config.json", "w", encoding="utf-8") as f:
        json.dump(tokenizer_config(max_length), f, indent=2)
        f.write("\n")
