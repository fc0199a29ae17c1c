"""What the PyTorch references (qwen3_ref.py, qwen2_ref.py, llama_ref.py,
qwen1_ref.py) share: reading a checkpoint and checking its tensor shapes,
the building blocks the architectures compute the same way (RMSNorm,
rotate-half RoPE, grouped-query causal attention), greedy generation and
the command line.

Like the references themselves, nothing here comes from lmcc's C code.
"""

import argparse
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_np import CheckpointError, read_checkpoint  # noqa: E402


class BaseConfig:
    """The config.json fields every architecture here names the same way."""

    def __init__(self, d):
        self.vocab_size = int(d["vocab_size"])
        self.hidden_size = int(d["hidden_size"])
        self.intermediate_size = int(d["intermediate_size"])
        self.num_layers = int(d["num_hidden_layers"])
        self.num_heads = int(d["num_attention_heads"])


def load_checkpoint(ckpt_dir, config_class):
    """(config, {name: torch tensor}) of a Hugging Face checkpoint directory."""
    with open(os.path.join(ckpt_dir, "config.json")) as f:
        cfg = config_class(json.load(f))
    arrays = read_checkpoint(ckpt_dir)
    return cfg, {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}


def check_shapes(weights, want):
    """Raises CheckpointError for the first tensor of want (name -> shape)
    that is missing or has another shape."""
    for name, shape in want.items():
        if name not in weights:
            raise CheckpointError(f"missing tensor {name}")
        if tuple(weights[name].shape) != shape:
            raise CheckpointError(f"tensor {name} has shape {tuple(weights[name].shape)}, expected {shape}")


# What the compiled model rounds a linear's input to: "f32" (not at all) or
# "bf16" (lmcc build --matmul-input bf16; set by main's --matmul-input).
MATMUL_INPUT = "f32"


# What the compiled model's KV cache stores: "f32", or "bf16" (lmcc build
# --kv-dtype bf16; set by main's --kv-dtype).
KV_DTYPE = "f32"

# Whether each linear's input is quantized to int8 per 32-block, as lmcc
# (and llama.cpp) quantize the inputs of q8_0 and q4_0 linears (set by
# main's --int8-inputs).
INT8_INPUTS = False


def kv_round(t):
    """A key (after its norm and RoPE) or value as the KV cache keeps it:
    rounded to bf16 (nearest even) and back under --kv-dtype bf16."""
    return t.to(torch.bfloat16).to(torch.float32) if KV_DTYPE == "bf16" else t


def attention_bf16():
    """Whether lmcc computes attention's products from bf16: with a bf16 KV
    cache and linear inputs that are not f32 (--matmul-input bf16, or a
    quantized build's int8 inputs), as transformers' bf16 attention does:
    the queries rounded to bf16 (after their norm and RoPE, before the score
    scale), the scores and softmax in f32, the probabilities rounded to bf16
    for their product with the values (PyTorch's CPU attention kernel rounds
    them so), the sum of the unrounded ones dividing the result."""
    return KV_DTYPE == "bf16" and (MATMUL_INPUT == "bf16" or INT8_INPUTS)


def query_round(q):
    """A query as attention multiplies it: rounded to bf16 and back under
    attention_bf16()."""
    return q.to(torch.bfloat16).to(torch.float32) if attention_bf16() else q


def linear(x, weight, bias=None):
    """x W^T + b, with x first rounded to bf16 (nearest even) and back under
    --matmul-input bf16, as transformers' bf16 tensors round it. The products
    of bf16 values are exact in f32, so only that rounding differs."""
    if MATMUL_INPUT == "bf16":
        x = x.to(torch.bfloat16).to(torch.float32)
    if INT8_INPUTS:
        x = int8_blocks(x)
    return torch.nn.functional.linear(x, weight, bias)


def int8_blocks(x):
    """x with each run of 32 along its last dimension quantized to int8 and
    back: d = max|x| / 127, q = x * (127 / max|x|) rounded to nearest, ties
    to even, all in f32 (the contract in lmcc's runtime/kernels/linear_quant.h)."""
    b = x.reshape(*x.shape[:-1], x.shape[-1] // 32, 32)
    amax = b.abs().amax(dim=-1, keepdim=True)
    safe = torch.where(amax > 0, amax, torch.ones_like(amax))
    inv = torch.where(amax > 0, torch.tensor(127.0, dtype=torch.float32) / safe, torch.zeros_like(amax))
    q = torch.round(b * inv)
    return (q * (amax / 127.0)).reshape(x.shape)


def rms_norm(x, weight, eps):
    # Qwen3RMSNorm and Qwen's RMSNorm alike: variance in f32,
    # x * rsqrt(var + eps), then * weight.
    var = x.pow(2).mean(-1, keepdim=True)
    return weight * (x * torch.rsqrt(var + eps))


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rope_cos_sin(inv_freq, n):
    """cos and sin of position x inv_freq for positions 0..n-1, duplicated for
    the two halves (rotate-half RoPE), as transformers' rotary embeddings
    build them: [n, 2 * len(inv_freq)] each."""
    pos = torch.arange(n, dtype=torch.float32)
    freqs = pos[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def gqa_attention(q, k, v, scale, window=None):
    """Causal grouped-query attention: q [H, n, hd], k and v [KV, n, hd] (k
    already rotated) -> [n, H * hd]. Query head h reads KV head h // (H / KV)
    (repeat_kv); keys and values are first rounded as the KV cache keeps
    them. With a window, a query sees only the keys less than window
    positions before it (causal_attend)."""
    heads, n, hd = q.shape
    q, k, v = query_round(q), kv_round(k), kv_round(v)
    groups = heads // k.shape[0]
    k = k.repeat_interleave(groups, dim=0)
    v = v.repeat_interleave(groups, dim=0)
    scores = torch.matmul(q, k.transpose(1, 2)) * scale
    out = causal_attend(scores, v, window)
    return out.transpose(0, 1).reshape(n, heads * hd)


def causal_attend(scores, v, window=None):
    """softmax(scores) v under a causal mask: scores [H, n, n] (already
    scaled as the architecture scales them), v [H, n, hd] -> [H, n, hd].
    With a window W (sliding-window attention), query q sees key k only
    when 0 <= q - k < W: itself and the W - 1 keys before it."""
    n = scores.shape[-1]
    masked = torch.ones(n, n, dtype=torch.bool).triu(1)
    if window is not None:
        masked |= torch.ones(n, n, dtype=torch.bool).tril(-window)
    scores = scores.masked_fill(masked, float("-inf"))
    if attention_bf16():
        e = torch.exp(scores - scores.amax(dim=-1, keepdim=True))
        weighted = torch.matmul(e.to(torch.bfloat16).to(torch.float32), v)
        return weighted / e.sum(dim=-1, keepdim=True)
    probs = torch.softmax(scores, dim=-1, dtype=torch.float32)
    return torch.matmul(probs, v)


def greedy(logits_of, tokens, n):
    """n greedy ids (first maximum wins ties), recomputing the whole sequence
    each step with logits_of(ids) -> [len(ids), vocab]: slow but with no
    cache to get wrong."""
    seq = list(tokens)
    out = []
    for _ in range(n):
        nxt = int(torch.argmax(logits_of(seq)[-1]).item())
        out.append(nxt)
        seq.append(nxt)
    return out


def perplexity(logits_of, tokens, chunk):
    """lmcc's --perplexity scheme (runtime/generate/perplexity.h): tokens in
    consecutive chunks of `chunk`, each from an empty context, every token
    but a chunk's first scored; the mean negative log-likelihood in double."""
    total, scored, chunks = 0.0, 0, 0
    for c0 in range(0, len(tokens) - 1, chunk):
        part = tokens[c0:c0 + chunk]
        if len(part) < 2:
            break
        logp = torch.log_softmax(logits_of(part).double(), dim=-1)
        targets = torch.tensor(part[1:], dtype=torch.int64)
        total -= logp[:-1].gather(1, targets[:, None]).sum().item()
        scored += len(part) - 1
        chunks += 1
    nll = total / scored
    return {"chunk": chunk, "chunks": chunks, "scored": scored, "nll": nll, "perplexity": math.exp(nll)}


def parse_tokens(text, vocab):
    try:
        ids = [int(t) for t in text.split(",") if t.strip() != ""]
    except ValueError:
        raise ValueError(f"--tokens {text!r}: expected comma-separated integers")
    if not ids:
        raise ValueError("--tokens: at least one id is needed")
    bad = [i for i in ids if not 0 <= i < vocab]
    if bad:
        raise ValueError(f"--tokens: id {bad[0]} is outside the vocabulary [0, {vocab})")
    return ids


def main(model_class, prog, description, argv=None):
    """The references' command line:

      PROG CKPT --tokens 1,2,3 [--logits OUT.npy] [-n N] [--threads T]
           [--matmul-input f32|bf16] [--kv-dtype f32|bf16] [--int8-inputs]
           [--perplexity-chunk C]

    --logits writes float32 [n_tokens, vocab] logits of every input position.
    -n N prints the N greedily generated ids, comma-separated, on one line.
    --perplexity-chunk C prints the tokens' perplexity in chunks of C tokens
    as one JSON object (tokens may be given as @FILE of comma-separated ids).

    model_class(ckpt) has .cfg.vocab_size and .logits_for(prompt), which
    returns the function ids -> logits to use for that prompt's logits and
    generation."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("ckpt", help="checkpoint directory (config.json + safetensors)")
    ap.add_argument("--tokens", required=True, help="comma-separated input ids")
    ap.add_argument("--logits", help="write float32 [n_tokens, vocab] logits here (.npy)")
    ap.add_argument("-n", type=int, default=0, help="greedily generate N ids and print them")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--matmul-input", choices=["f32", "bf16"], default="f32",
                    help="round each linear's input to bf16 first (lmcc build --matmul-input bf16)")
    ap.add_argument("--kv-dtype", choices=["f32", "bf16"], default="f32",
                    help="round keys and values to bf16 as the KV cache keeps them (lmcc build --kv-dtype bf16)")
    ap.add_argument("--int8-inputs", action="store_true",
                    help="quantize each linear's input to int8 per 32-block first (lmcc's q8_0 and q4_0 builds)")
    ap.add_argument("--perplexity-chunk", type=int, default=0,
                    help="print the perplexity of the tokens in chunks of this many (JSON)")
    args = ap.parse_args(argv)
    global MATMUL_INPUT, KV_DTYPE, INT8_INPUTS
    MATMUL_INPUT = args.matmul_input
    KV_DTYPE = args.kv_dtype
    INT8_INPUTS = args.int8_inputs
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    try:
        model = model_class(args.ckpt)
        text = args.tokens
        if text.startswith("@"):
            with open(text[1:]) as f:
                text = f.read()
        tokens = parse_tokens(text, model.cfg.vocab_size)
        if args.n < 0:
            raise ValueError("-n must be >= 0")
        logits_of = model.logits_for(tokens)
        if args.logits:
            logits = logits_of(tokens).numpy().astype(np.float32)
            tmp = args.logits + ".tmp.npy"
            np.save(tmp, logits)
            os.replace(tmp, args.logits)
        if args.n > 0:
            print(",".join(str(i) for i in greedy(logits_of, tokens, args.n)))
        if args.perplexity_chunk:
            if args.perplexity_chunk < 2 or len(tokens) < 2:
                raise ValueError("--perplexity-chunk needs a chunk of at least 2 and at least 2 tokens")
            print(json.dumps(perplexity(logits_of, tokens, args.perplexity_chunk)))
    except (OSError, ValueError, KeyError, CheckpointError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    return 0
