"""PyTorch reference for tests/compiler/ops/gemma_ops.lua, written from
transformers' Gemma 3 modules, not from lmcc: Gemma3TextScaledWordEmbedding
(embedding * embed_scale.to(weight.dtype)), Gemma3RMSNorm (f32 norm times
1 + weight), gelu_pytorch_tanh and final_logit_softcapping (divide, tanh,
multiply). Compares lmcc's --logits with these and, given --embed-dump, its
dumped embeddings bit for bit with torch's product in the weights' dtype.

usage: gemma_ops_ref.py CKPT --tokens 1,2,3 --logits OUT.npy [--fuse 0|1]
         [--matmul-input f32|bf16] [--tol T] [--mean-tol M] [--embed-dump NPY]
"""

import argparse
import json
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "reference"))
import common  # noqa: E402
from safetensors_np import read_checkpoint  # noqa: E402


def rms_norm(x, weight, eps, offset):
    # Gemma3RMSNorm with the script's offset (1.0 is Gemma's own).
    x = x.float()
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * (offset + weight.float())


def softcap(x, cap):
    return torch.tanh(x / cap) * cap


def forward(w, cfg, ids, fuse, bf16):
    dim = cfg["hidden_size"]
    emb = w["model.embed_tokens.weight"]
    # embed_scale is an f32 tensor, cast to the weight's dtype for the product.
    scale = torch.tensor(dim ** 0.5)
    if bf16:
        x = (emb.to(torch.bfloat16)[ids] * scale.to(torch.bfloat16)).float()
    else:
        x = emb[ids] * scale
    embedded = x.clone()
    eps = cfg["rms_norm_eps"]
    gelu = torch.nn.GELUTanh() if hasattr(torch.nn, "GELUTanh") else (
        lambda v: torch.nn.functional.gelu(v, approximate="tanh"))
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        x = x + common.linear(rms_norm(x, w[p + "input_layernorm.weight"], eps, 0.5), w[p + "mixer.weight"])
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps, 1.0)
        gate = common.linear(h, w[p + "mlp.gate_proj.weight"])
        up = common.linear(h if fuse else x, w[p + "mlp.up_proj.weight"])
        x = x + common.linear(gelu(gate) * up, w[p + "mlp.down_proj.weight"])
        if not fuse:
            x = softcap(x, cfg["residual_softcapping"])
    logits = common.linear(rms_norm(x, w["model.norm.weight"], eps, 1.0), emb)
    return embedded, softcap(logits, cfg["final_logit_softcapping"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ckpt")
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--logits", required=True)
    ap.add_argument("--fuse", type=int, default=1)
    ap.add_argument("--matmul-input", default="f32")
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--mean-tol", type=float, default=None)
    ap.add_argument("--embed-dump", default=None)
    a = ap.parse_args()
    common.MATMUL_INPUT = a.matmul_input
    with open(os.path.join(a.ckpt, "config.json")) as f:
        cfg = json.load(f)
    w = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in read_checkpoint(a.ckpt).items()}
    ids = torch.tensor([int(t) for t in a.tokens.split(",")])
    with torch.no_grad():
        embedded, want = forward(w, cfg, ids, a.fuse == 1, a.matmul_input == "bf16")
    got = torch.from_numpy(np.load(a.logits))
    if got.shape != want.shape:
        sys.exit(f"gemma_ops_ref: logits shape {tuple(got.shape)}, expected {tuple(want.shape)}")
    err = (got - want).abs()
    print(f"gemma_ops_ref: max |logit error| {err.max().item():.3g}, mean {err.mean().item():.3g}; "
          f"logits span [{want.min().item():.3g}, {want.max().item():.3g}] under cap "
          f"{cfg['final_logit_softcapping']}")
    if err.max().item() > a.tol or (a.mean_tol is not None and err.mean().item() > a.mean_tol):
        sys.exit(f"gemma_ops_ref: logits differ from the reference beyond {a.tol} (mean {a.mean_tol})")
    if a.embed_dump:
        dumped = torch.from_numpy(np.load(a.embed_dump))
        if not torch.equal(dumped, embedded):
            bad = (dumped != embedded).sum().item()
            sys.exit(f"gemma_ops_ref: {bad} scaled embedding values differ from torch's product")
        print("gemma_ops_ref: scaled embeddings equal torch's bit for bit")
    if math.isnan(err.max().item()):
        sys.exit("gemma_ops_ref: NaN logits")


if __name__ == "__main__":
    main()
