#!/usr/bin/env python3
"""An independent q8_0 / q4_0 for the golden tests: quantizes and
dequantizes every matrix of a checkpoint as GGUF's reference quantizers
define the formats (ggml's block_q8_0 and block_q4_0: blocks of 32 along
each row, an f16 scale), in NumPy, and writes the result as an f32
checkpoint. The PyTorch reference run on it computes what lmcc's quantized
build should, up to f32 rounding.

  quantize_ref.py SRC_DIR DST_DIR --dtype q4_0|q8_0

Matrices are the 2-D tensors (embeddings, projections, the head); norms
and biases stay as they are, as lmcc keeps them f32.
"""
import argparse
import json
import os
import shutil
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
from safetensors_np import read_checkpoint  # noqa: E402

BLOCK = 32


def q8_0(x):
    """d = max|x| / 127, q = round half away from zero of x * (1 / d)."""
    b = x.reshape(-1, BLOCK).astype(np.float32)
    d = (np.max(np.abs(b), axis=1, keepdims=True) / np.float32(127)).astype(np.float32)
    inv = np.where(d == 0, np.float32(0), np.float32(1) / np.where(d == 0, np.float32(1), d)).astype(np.float32)
    v = (b * inv).astype(np.float32)
    q = np.clip(np.sign(v) * np.floor(np.abs(v) + np.float32(0.5)), -127, 127)
    return (d.astype(np.float16).astype(np.float32) * q).reshape(x.shape)


def q4_0(x):
    """m = the element of largest magnitude, d = m / -8, q = min(15,
    trunc(x * (1 / d) + 8.5)); the weight is d * (q - 8)."""
    b = x.reshape(-1, BLOCK).astype(np.float32)
    m = b[np.arange(b.shape[0]), np.argmax(np.abs(b), axis=1)][:, None]
    d = (m / np.float32(-8)).astype(np.float32)
    inv = np.where(d == 0, np.float32(0), np.float32(1) / np.where(d == 0, np.float32(1), d)).astype(np.float32)
    q = np.clip(np.trunc((b * inv).astype(np.float32) + np.float32(8.5)), 0, 15)
    return (d.astype(np.float16).astype(np.float32) * (q - 8)).reshape(x.shape)


def write_safetensors(path, tensors):
    header, offset = {}, 0
    for name in sorted(tensors):
        n = tensors[name].size * 4
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + n]}
        offset += n
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for name in sorted(tensors):
            f.write(np.ascontiguousarray(tensors[name], dtype="<f4").tobytes())


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src")
    ap.add_argument("dst")
    ap.add_argument("--dtype", choices=["q8_0", "q4_0"], required=True)
    a = ap.parse_args()
    quant = q8_0 if a.dtype == "q8_0" else q4_0
    tensors = read_checkpoint(a.src)
    out = {name: quant(t) if t.ndim == 2 else t.astype(np.float32) for name, t in tensors.items()}
    os.makedirs(a.dst, exist_ok=True)
    write_safetensors(os.path.join(a.dst, "model.safetensors"), out)
    with open(os.path.join(a.src, "config.json")) as f:
        config = json.load(f)
    config["torch_dtype"] = "float32"
    with open(os.path.join(a.dst, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    for extra in ("generation_config.json", "tokenizer.json", "tokenizer_config.json", "qwen.tiktoken"):
        if os.path.exists(os.path.join(a.src, extra)):
            shutil.copy(os.path.join(a.src, extra), a.dst)


if __name__ == "__main__":
    main()
