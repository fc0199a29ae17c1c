#!/usr/bin/python3
"""A Hugging Face checkpoint directory as a GGUF file, written with
llama.cpp's own GGUF writer (its gguf-py package, from the llama.cpp tree
the user built), so that llama.cpp and lmcc run the same weights.

  gguf_from_checkpoint.py CKPT_DIR OUT.gguf --gguf-py LLAMA_CPP/gguf-py

For the benchmark checkpoints `lmcc synth` makes: Qwen3, Qwen3 MoE and
Llama (config.json's model_type qwen3, qwen3_moe, qwen2 or llama; a MoE
layer's per-expert matrices are stacked into the [experts, rows, cols]
tensors llama.cpp reads, its router kept in f32 as llama.cpp's converter
keeps it), bf16, f16 or f32
tensors copied as they are stored, and the byte-level BPE tokenizer.json
if there is one (else GPT-2's 256 byte tokens and placeholders).
llama.cpp's convert_hf_to_gguf.py does the same for real checkpoints but
needs the transformers package, which Debian does not ship; this script
needs only numpy. Quantize the result with llama-quantize (--pure keeps
every matrix in the one type, as lmcc's --dtype does).
"""
import argparse
import json
import os
import re
import struct
import sys

import numpy as np

ARCHS = {"qwen3": ("QWEN3", "qwen2"), "qwen3_moe": ("QWEN3MOE", "qwen2"), "qwen2": ("QWEN2", "qwen2"), "llama": ("LLAMA", "llama-bpe")}


def fail(msg):
    sys.exit(f"gguf_from_checkpoint: error: {msg}")


def safetensors_files(ckpt):
    index = os.path.join(ckpt, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            return sorted(set(json.load(f)["weight_map"].values()))
    return ["model.safetensors"]


def tensors(ckpt):
    """(name, dtype name, shape, raw little-endian array) of every tensor."""
    kinds = {"BF16": np.dtype("<u2"), "F16": np.dtype("<f2"), "F32": np.dtype("<f4")}
    for fname in safetensors_files(ckpt):
        path = os.path.join(ckpt, fname)
        with open(path, "rb") as f:
            (hlen,) = struct.unpack("<Q", f.read(8))
            header = json.loads(f.read(hlen))
        data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + hlen)
        for name, ent in sorted(header.items()):
            if name == "__metadata__":
                continue
            if ent["dtype"] not in kinds:
                fail(f"{path}: tensor {name}: dtype {ent['dtype']} is not BF16, F16 or F32")
            b, e = ent["data_offsets"]
            raw = data[b:e].view(kinds[ent["dtype"]]).reshape(ent["shape"])
            yield name, ent["dtype"], ent["shape"], raw


def byte_level_vocab(vocab_size):
    """A vocabulary for a checkpoint without tokenizer.json (lmcc synth's):
    GPT-2's 256 byte tokens, so that any text tokenizes, then the pairs of
    lowercase letters with their merges (llama.cpp refuses a BPE without
    merges), then placeholders up to the model's vocabulary size."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars, extra = {}, 0
    for byte in range(256):
        if byte in keep:
            chars[byte] = chr(byte)
        else:
            chars[byte] = chr(256 + extra)
            extra += 1
    vocab = {chars[b]: b for b in range(256)}
    letters = [chars[c] for c in range(ord("a"), ord("z") + 1)]
    pairs = [(a, b) for a in letters for b in letters][: max(0, vocab_size - 256)]
    for a, b in pairs:
        vocab[a + b] = len(vocab)
    merges = [f"{a} {b}" for a, b in pairs]
    return {"model": {"type": "BPE", "vocab": vocab, "merges": merges}}


def add_tokenizer(w, gguf, ckpt, vocab_size, pre, cfg):
    path = os.path.join(ckpt, "tokenizer.json")
    if os.path.exists(path):
        with open(path) as f:
            tok = json.load(f)
    else:
        tok = byte_level_vocab(vocab_size)
    model = tok.get("model", {})
    if model.get("type") != "BPE":
        fail(f"{ckpt}/tokenizer.json: model type {model.get('type')!r}, expected a byte-level BPE")
    ids = {i: t for t, i in model["vocab"].items()}
    special = set()
    for a in tok.get("added_tokens", []):
        ids[a["id"]] = a["content"]
        if a.get("special"):
            special.add(a["id"])
    tokens, types = [], []
    for i in range(vocab_size):
        if i in ids:
            tokens.append(ids[i])
            types.append(gguf.TokenType.CONTROL if i in special else gguf.TokenType.NORMAL)
        else:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    for key, add in (("bos_token_id", w.add_bos_token_id), ("eos_token_id", w.add_eos_token_id)):
        v = cfg.get(key)
        if isinstance(v, list):
            v = v[0]
        if isinstance(v, int):
            add(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ckpt")
    ap.add_argument("out")
    ap.add_argument("--gguf-py", required=True, help="the gguf-py directory of a llama.cpp tree")
    a = ap.parse_args()
    sys.path.insert(0, a.gguf_py)
    try:
        import gguf
    except ImportError as e:
        fail(f"--gguf-py {a.gguf_py}: cannot import llama.cpp's gguf package ({e})")
    with open(os.path.join(a.ckpt, "config.json")) as f:
        cfg = json.load(f)
    mt = cfg.get("model_type")
    if mt not in ARCHS:
        fail(f"{a.ckpt}/config.json: model_type {mt!r}; this script writes {', '.join(ARCHS)}")
    arch = getattr(gguf.MODEL_ARCH, ARCHS[mt][0])
    n_layers = cfg["num_hidden_layers"]
    heads = cfg["num_attention_heads"]
    head_dim = cfg.get("head_dim") or cfg["hidden_size"] // heads
    tmp = a.out + ".tmp"
    w = gguf.GGUFWriter(tmp, gguf.MODEL_ARCH_NAMES[arch])
    w.add_name(os.path.basename(os.path.normpath(a.ckpt)))
    w.add_context_length(cfg["max_position_embeddings"])
    w.add_embedding_length(cfg["hidden_size"])
    w.add_block_count(n_layers)
    w.add_feed_forward_length(cfg["intermediate_size"])
    w.add_head_count(heads)
    w.add_head_count_kv(cfg.get("num_key_value_heads", heads))
    w.add_key_length(head_dim)
    w.add_value_length(head_dim)
    w.add_rope_dimension_count(head_dim)
    w.add_rope_freq_base(float(cfg.get("rope_theta", 10000.0)))
    w.add_layer_norm_rms_eps(float(cfg["rms_norm_eps"]))
    if mt == "qwen3_moe":
        w.add_expert_count(cfg["num_experts"])
        w.add_expert_used_count(cfg["num_experts_per_tok"])
        w.add_expert_feed_forward_length(cfg["moe_intermediate_size"])
    w.add_file_type(gguf.LlamaFileType.MOSTLY_BF16)
    add_tokenizer(w, gguf, a.ckpt, cfg["vocab_size"], ARCHS[mt][1], cfg)
    names = gguf.get_tensor_name_map(arch, n_layers)
    raw_types = {"BF16": gguf.GGMLQuantizationType.BF16, "F16": gguf.GGMLQuantizationType.F16,
                 "F32": gguf.GGMLQuantizationType.F32}
    experts = {}  # (layer, proj) -> {expert: (dtype, raw)}
    expert_name = re.compile(r"^(model\.layers\.\d+\.mlp\.experts)\.(\d+)\.(\w+_proj)\.weight$")
    for name, dtype, shape, raw in tensors(a.ckpt):
        m = expert_name.match(name)
        if m:
            experts.setdefault((m.group(1), m.group(3)), {})[int(m.group(2))] = (dtype, raw)
            continue
        new = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if new is None:
            fail(f"{a.ckpt}: tensor {name} has no GGUF name for {mt}")
        if (len(shape) == 1 or name.endswith(".mlp.gate.weight")) and dtype != "F32":
            # Norms and biases: llama.cpp reads them as f32.
            raw = (raw.astype(np.uint32) << 16).view(np.float32) if dtype == "BF16" else raw.astype(np.float32)
            dtype = "F32"
        w.add_tensor(new, np.ascontiguousarray(raw), raw_dtype=raw_types[dtype])
    for (prefix, proj), by_expert in sorted(experts.items()):
        if sorted(by_expert) != list(range(cfg["num_experts"])):
            fail(f"{a.ckpt}: {prefix}: {proj} of experts {sorted(by_expert)}, expected 0 to {cfg['num_experts'] - 1}")
        dtypes = {d for d, _ in by_expert.values()}
        if len(dtypes) != 1:
            fail(f"{a.ckpt}: {prefix}: {proj} in several dtypes {sorted(dtypes)}")
        new = names.get_name(f"{prefix}.{proj}.weight", try_suffixes=(".weight",))
        if new is None:
            fail(f"{a.ckpt}: {prefix}.{proj} has no GGUF name for {mt}")
        stacked = np.stack([by_expert[e][1] for e in range(cfg["num_experts"])])
        w.add_tensor(new, stacked, raw_dtype=raw_types[dtypes.pop()])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    os.replace(tmp, a.out)


if __name__ == "__main__":
    main()
