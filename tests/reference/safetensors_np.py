"""A small, independent reader for Hugging Face safetensors checkpoints.

Reads a checkpoint directory exactly as the hub serves it: model.safetensors,
or model-0000N-of-0000M.safetensors listed by model.safetensors.index.json.
Returns float32 numpy arrays (BF16 and F16 upcast exactly), so the reference
sees the same values the stored weights hold. Only json and numpy are used.
"""

import json
import os
import struct

import numpy as np

# dtype name in the header -> (bytes per element, numpy dtype as stored)
_DTYPES = {
    "F32": (4, np.dtype("<f4")),
    "F16": (2, np.dtype("<f2")),
    "BF16": (2, np.dtype("<u2")),
}


class CheckpointError(Exception):
    pass


def _to_f32(raw, dtype):
    if dtype == "F32":
        return raw.astype(np.float32)
    if dtype == "F16":
        return raw.astype(np.float32)
    # BF16 is the high half of an f32: shift the bits up and reinterpret.
    return (raw.astype(np.uint32) << 16).view(np.float32)


def read_safetensors(path):
    """All tensors of one file as {name: float32 ndarray}."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        prefix = f.read(8)
        if len(prefix) != 8:
            raise CheckpointError(f"{path}: shorter than the 8-byte header length")
        (hlen,) = struct.unpack("<Q", prefix)
        if hlen > size - 8:
            raise CheckpointError(f"{path}: header length {hlen} exceeds file size {size}")
        header = json.loads(f.read(hlen).decode("utf-8"))
    data_start = 8 + hlen
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=data_start, shape=(size - data_start,))
    out = {}
    for name, ent in header.items():
        if name == "__metadata__":
            continue
        dtype = ent["dtype"]
        if dtype not in _DTYPES:
            raise CheckpointError(f"{path}: tensor {name} has unsupported dtype {dtype}")
        esize, npdt = _DTYPES[dtype]
        shape = [int(d) for d in ent["shape"]]
        begin, end = (int(x) for x in ent["data_offsets"])
        count = int(np.prod(shape, dtype=np.int64))
        if not (0 <= begin <= end <= data.shape[0]) or end - begin != count * esize:
            raise CheckpointError(f"{path}: tensor {name} has bad data_offsets [{begin}, {end}] "
                                  f"for shape {shape} {dtype}")
        raw = np.frombuffer(data[begin:end].tobytes(), dtype=npdt)
        out[name] = _to_f32(raw, dtype).reshape(shape)
    return out


def read_checkpoint(ckpt_dir):
    """All tensors of a checkpoint directory (single file or sharded)."""
    index = os.path.join(ckpt_dir, "model.safetensors.index.json")
    single = os.path.join(ckpt_dir, "model.safetensors")
    if os.path.exists(index):
        with open(index) as f:
            weight_map = json.load(f)["weight_map"]
        tensors = {}
        for file in sorted(set(weight_map.values())):
            for name, arr in read_safetensors(os.path.join(ckpt_dir, file)).items():
                if weight_map.get(name) != file:
                    raise CheckpointError(f"{file}: tensor {name} is not mapped to this file by the index")
                tensors[name] = arr
        missing = set(weight_map) - set(tensors)
        if missing:
            raise CheckpointError(f"{index}: tensors missing from their shards: {sorted(missing)[:5]}")
        return tensors
    if os.path.exists(single):
        return read_safetensors(single)
    raise CheckpointError(f"{ckpt_dir}: no model.safetensors or model.safetensors.index.json")
