#!/usr/bin/python3
"""Train lmcc's built-in model: a small Qwen3 on the King James Bible.

  tools/kjv/train.py [-o DIR] [--seed N] [--steps N] [--threads N] ...

Writes a Hugging Face checkpoint directory: config.json,
generation_config.json, model.safetensors (bf16), tokenizer.json and
tokenizer_config.json (a byte-level BPE trained here), train_log.json (the
loss curve and held-out perplexity) and heldout.txt (held-out chapters for
the tests). Needs Debian's python3-torch, python3-numpy, python3-regex and
the corpus from bible-kjv + bible-kjv-text. Deterministic for a given seed
and thread count (PyTorch's CPU kernels sum in an order that depends on the
thread count).
"""

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402
import corpus  # noqa: E402
from model import Qwen3  # noqa: E402
from safetensors_write import write_safetensors  # noqa: E402


def model_config(vocab_size, eos, args):
    """config.json as transformers writes it for Qwen3ForCausalLM."""
    return {
        "architectures": ["Qwen3ForCausalLM"],
        "model_type": "qwen3",
        "vocab_size": vocab_size,
        "hidden_size": args.hidden,
        "intermediate_size": args.intermediate,
        "num_hidden_layers": args.layers,
        "num_attention_heads": args.heads,
        "num_key_value_heads": args.kv_heads,
        "head_dim": args.hidden // args.heads,
        "hidden_act": "silu",
        "max_position_embeddings": args.context,
        "rms_norm_eps": 1e-6,
        "rope_theta": 10000.0,
        "rope_scaling": None,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "tie_word_embeddings": True,
        "initializer_range": 0.02,
        "use_cache": True,
        "use_sliding_window": False,
        "sliding_window": None,
        "max_window_layers": args.layers,
        "bos_token_id": eos,
        "eos_token_id": eos,
        "torch_dtype": "bfloat16",
        "transformers_version": "4.51.0",
    }


def batches(stream, seq, batch, gen):
    """Random windows of seq + 1 tokens: (inputs, targets)."""
    starts = torch.randint(0, len(stream) - seq - 1, (batch,), generator=gen)
    rows = torch.stack([stream[s:s + seq + 1] for s in starts.tolist()])
    return rows[:, :-1], rows[:, 1:]


@torch.no_grad()
def heldout_nll(model, stream, seq, autocast):
    """Mean negative log-likelihood over the stream in windows of seq + 1
    tokens (each window predicts its tokens after the first from those
    before), 16 windows a forward."""
    model.eval()
    total, count = 0.0, 0
    starts = list(range(0, len(stream) - 1, seq))
    for i in range(0, len(starts), 16):
        chunks = [stream[s:s + seq + 1] for s in starts[i:i + 16]]
        for group in ([c for c in chunks if len(c) == seq + 1], [c for c in chunks if len(c) != seq + 1]):
            for rows in ([torch.stack(group)] if group and len(group[0]) == seq + 1 else [c[None] for c in group]):
                if rows.shape[1] < 2:
                    continue
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
                    logits = model(rows[:, :-1])
                nll = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]),
                                                        rows[:, 1:].reshape(-1), reduction="sum")
                total += nll.item()
                count += rows[:, 1:].numel()
    model.train()
    return total / count


def lr_at(step, args):
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    p = (step - args.warmup) / max(1, args.steps - args.warmup)
    return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "checkpoint"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--intermediate", type=int, default=768)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--context", type=int, default=1024, help="max_position_embeddings")
    ap.add_argument("--seq", type=int, default=256, help="training window")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=1800)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--eval-every", type=int, default=200)
    ap.add_argument("--heldout-sample", type=int, default=3, help="held-out chapters written to heldout.txt")
    args = ap.parse_args(argv)

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    started = time.time()

    chs = corpus.chapters(corpus.bible_output())
    train_chs, held_chs = corpus.split(chs)
    train_texts = [corpus.chapter_text(c) for c in train_chs]
    held_texts = [corpus.chapter_text(c) for c in held_chs]
    vocab, merges = bpe.train(train_texts, args.vocab)
    enc = bpe.Encoder(vocab, merges)
    eos = vocab["<|endoftext|>"]

    def stream_of(texts):
        ids = []
        for t in texts:
            ids.extend(enc.encode(t))
            ids.append(eos)
        return torch.tensor(ids, dtype=torch.long)

    train_stream, held_stream = stream_of(train_texts), stream_of(held_texts)
    print(f"corpus: {len(train_chs)} training chapters ({len(train_stream)} tokens), "
          f"{len(held_chs)} held out ({len(held_stream)} tokens); tokenizer {len(vocab)} tokens "
          f"({time.time() - started:.1f} s)", flush=True)

    config = model_config(len(vocab), eos, args)
    model = Qwen3(config)
    n_params = sum(p.numel() for p in model.parameters())
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=args.lr, betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(args.seed)
    log = {"seed": args.seed, "threads": args.threads, "parameters": n_params,
           "train_tokens": len(train_stream), "heldout_tokens": len(held_stream),
           "args": vars(args), "steps": []}
    print(f"model: {n_params} parameters; {args.steps} steps of {args.batch} x {args.seq} tokens", flush=True)

    t0 = time.time()
    running = None
    for step in range(args.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args)
        x, y = batches(train_stream, args.seq, args.batch, gen)
        # bf16 matmuls (oneDNN), f32 master weights and loss: twice the
        # speed of f32 on this machine's CPUs.
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        running = loss.item() if running is None else 0.98 * running + 0.02 * loss.item()
        last = step + 1 == args.steps
        if (step + 1) % args.eval_every == 0 or last:
            held = heldout_nll(model, held_stream, args.seq, autocast=True)
            entry = {"step": step + 1, "train_loss": round(running, 4), "heldout_nll": round(held, 4),
                     "heldout_ppl": round(math.exp(held), 3), "seconds": round(time.time() - t0, 1)}
            log["steps"].append(entry)
            print(json.dumps(entry), flush=True)

    # The figure that counts: the stored (bf16) weights, computed in f32.
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(torch.bfloat16).float())
    final = heldout_nll(model, held_stream, args.seq, autocast=False)
    log["final"] = {"heldout_nll": round(final, 5), "heldout_ppl": round(math.exp(final), 3),
                    "weights": "bf16, computed in f32", "window": args.seq}
    print(json.dumps(log["final"]), flush=True)

    # Written to a scratch directory next to the output, then moved into place.
    out = os.path.abspath(args.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".train-", dir=os.path.dirname(out))
    try:
        state = {k: v.detach().to(torch.bfloat16) for k, v in model.state_dict().items()}
        state.pop("lm_head.weight", None)  # tied: transformers omits it
        write_safetensors(os.path.join(tmp, "model.safetensors"), state)
        with open(os.path.join(tmp, "config.json"), "w") as f:
            json.dump(config, f, indent=2)
            f.write("\n")
        with open(os.path.join(tmp, "generation_config.json"), "w") as f:
            json.dump({"bos_token_id": eos, "eos_token_id": eos, "do_sample": False,
                       "transformers_version": "4.51.0"}, f, indent=2)
            f.write("\n")
        bpe.write(tmp, vocab, merges, args.context)
        with open(os.path.join(tmp, "heldout.txt"), "w") as f:
            f.write("".join(held_texts[:args.heldout_sample]))
        log["seconds"] = round(time.time() - started, 1)
        with open(os.path.join(tmp, "train_log.json"), "w") as f:
            json.dump(log, f, indent=1)
            f.write("\n")
        os.chmod(tmp, 0o755)
        if os.path.exists(out):
            shutil.rmtree(out)
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    print(f"wrote {out} in {time.time() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except corpus.CorpusError as e:
        print(f"train.py: error: {e}", file=sys.stderr)
        sys.exit(1)
