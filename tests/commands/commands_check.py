#!/usr/bin/python3
"""End-to-end checks of the registry and the commands around it.

  commands_check.py --lmcc LMCC --root SRC --work DIR CHECK

CHECK is one of
  registry-configs   every model type and size in configs/registry.yaml names a
                     config that exists and compiles (lmcc build --emit-only)
  list               lmcc list shows every (model, size, variant) with its
                     repository, aligned; unknown model types are one-line errors
  inspect-good       lmcc inspect of a synthesized checkpoint against its own
                     config exits 0 (single file and sharded, Qwen3 and Qwen1)
  inspect-broken     a checkpoint with one tensor dropped, one added and one
                     reshaped: inspect reports all three in one run and exits 1
  registry-errors    unknown model type / size / variant through the commands
                     that take them: one line on stderr listing what exists

The registry is read here with PyYAML, independently of lmcc's loader.
Exit status 0 on pass, 1 on failure.
"""

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys

import yaml

TIMEOUT_S = 120


class CheckFailure(Exception):
    pass


def run(cmd, expect_rc=0, what=None):
    """Runs cmd; returns (stdout, stderr). Raises unless the exit status is expect_rc."""
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise CheckFailure(f"{what or cmd[1]}: timed out: {' '.join(cmd)}")
    if p.returncode != expect_rc:
        raise CheckFailure(f"{what or cmd[1]}: exit status {p.returncode}, expected {expect_rc}: {' '.join(cmd)}\n"
                           f"--- stderr ---\n{p.stderr.rstrip()}\n--- stdout ---\n{p.stdout.rstrip()}")
    return p.stdout, p.stderr


def one_error_line(stderr, must_contain, what):
    """stderr must be exactly one 'lmcc: error: ...' line containing every part."""
    lines = [l for l in stderr.splitlines() if l.strip()]
    if len(lines) != 1 or not lines[0].startswith("lmcc: error: "):
        raise CheckFailure(f"{what}: expected one 'lmcc: error:' line on stderr, got:\n{stderr}")
    for part in must_contain:
        if part not in lines[0]:
            raise CheckFailure(f"{what}: error line lacks {part!r}: {lines[0]}")


def load_registry(root):
    with open(os.path.join(root, "configs", "registry.yaml")) as f:
        return yaml.safe_load(f)["models"]


def expected_rows(root):
    """(model, size, variant, repo, config path) for every registry entry."""
    rows = []
    for model, m in load_registry(root).items():
        repo_size = {str(k).lower(): str(v) for k, v in (m.get("repo_size") or {}).items()}
        for size in m["sizes"]:
            size = str(size)
            spelled = repo_size.get(size.lower(), size)
            config = m["config"].replace("{size}", size.lower()).replace("{repo_size}", spelled.lower())
            for variant, v in m["variants"].items():
                # One repository pattern for every size, or one per size.
                pattern = v["repo"]
                if isinstance(pattern, dict):
                    pattern = {str(k).lower(): str(r) for k, r in pattern.items()}[size.lower()]
                repo = pattern.replace("{size}", spelled)
                rows.append((model, size, variant, repo, config))
    return rows


def check_registry_configs(args):
    seen = set()
    built = 0
    for model, size, _variant, _repo, config in expected_rows(args.root):
        if config in seen:
            continue
        seen.add(config)
        path = config if os.path.isabs(config) else os.path.join(args.root, config)
        if not os.path.isfile(path):
            raise CheckFailure(f"registry: {model} {size}: config {config} does not exist")
        out = os.path.join(args.work, "emit", os.path.basename(config)[:-len(".yaml")])
        run([args.lmcc, "build", path, "--emit-only", "-o", out], what=f"build {config} --emit-only")
        sources = [f for f in os.listdir(out) if f.endswith(".c")] if os.path.isdir(out) else []
        if not sources:
            raise CheckFailure(f"build {config} --emit-only wrote no C source into {out}")
        built += 1
    return f"{built} registry configs exist and compile"


def check_list(args):
    out, err = run([args.lmcc, "list"], what="list")
    lines = out.splitlines()
    header = lines[0].split()
    for col in ("MODEL", "SIZE", "VARIANT", "REPOSITORY", "CONFIG"):
        if col not in header:
            raise CheckFailure(f"list: header lacks {col}: {lines[0]}")
    # Aligned: every column starts where its header does.
    starts = [lines[0].index(h) for h in header]
    rows = {}
    for line in lines[1:]:
        if not line.strip():
            break
        for s in starts[1:]:
            if line[s - 1] != " " or line[s] == " ":
                raise CheckFailure(f"list: row not aligned with the header at column {s}:\n{lines[0]}\n{line}")
        cells = line.split()
        rows[tuple(cells[:3])] = line
    want = expected_rows(args.root)
    for model, size, variant, repo, config in want:
        line = rows.get((model, size, variant))
        if line is None:
            raise CheckFailure(f"list: no row for {model} {size} {variant}")
        if f" {repo} " not in line + " ":
            raise CheckFailure(f"list: row for {model} {size} {variant} lacks repository {repo}: {line}")
        if config not in line or "(missing)" in line:
            raise CheckFailure(f"list: row for {model} {size} {variant} lacks config {config} or marks it missing")
    if len(rows) != len(want):
        raise CheckFailure(f"list: {len(rows)} rows, the registry has {len(want)} entries")

    out1, _ = run([args.lmcc, "list", "QWEN1"], what="list QWEN1")
    models = {l.split()[0] for l in out1.splitlines()[1:] if l.strip()}
    if models != {"qwen1"}:
        raise CheckFailure(f"list QWEN1: expected only qwen1 rows, got {sorted(models)}")
    _, err = run([args.lmcc, "list", "qwen9"], expect_rc=1, what="list qwen9")
    one_error_line(err, ["qwen9", "qwen1", "qwen3"], "list qwen9")
    out, _ = run([args.lmcc, "list", "--help"], what="list --help")
    if "usage: lmcc list" not in out:
        raise CheckFailure("list --help: no usage text")
    return f"list shows all {len(want)} registry entries, aligned"


def synth(args, config, name, extra=()):
    ckpt = os.path.join(args.work, name)
    shutil.rmtree(ckpt, ignore_errors=True)
    run([args.lmcc, "synth", os.path.join(args.root, config), "-o", ckpt, "--seed", "7", *extra],
        what=f"synth {config}")
    return ckpt


def check_inspect_good(args):
    cases = [("configs/test/qwen3-tiny.yaml", "good-qwen3", ()),
             ("configs/test/qwen3-tiny-untied-bf16.yaml", "good-qwen3-2shards", ("--shards", "2")),
             ("configs/test/qwen1-tiny.yaml", "good-qwen1", ())]
    for config, name, extra in cases:
        ckpt = synth(args, config, name, extra)
        out, _ = run([args.lmcc, "inspect", ckpt, "--config", os.path.join(args.root, config)],
                     what=f"inspect {name}")
        if "matches" not in out:
            raise CheckFailure(f"inspect {name}: no 'matches' verdict:\n{out}")
        # The listing: one line per tensor, sorted, and a total.
        with open(os.path.join(ckpt, "config.json")) as f:
            json.load(f)
        names = [l.split()[0] for l in out.splitlines()[2:] if l and not l.startswith(("total:", "mapping", "result"))
                 and not l.startswith(" ")]
        if names != sorted(names) or not names:
            raise CheckFailure(f"inspect {name}: tensor listing missing or not sorted:\n{out}")
        total = [l for l in out.splitlines() if l.startswith("total:")]
        if not total or f"total: {len(names)} tensors" not in total[0]:
            raise CheckFailure(f"inspect {name}: total line wrong for {len(names)} tensors: {total}")
    # Without --config: the listing only, exit 0.
    out, _ = run([args.lmcc, "inspect", ckpt], what="inspect without --config")
    if "mapping" in out:
        raise CheckFailure("inspect without --config printed a mapping report")
    _, err = run([args.lmcc, "inspect", os.path.join(args.work, "no-such-dir")], expect_rc=1,
                 what="inspect of a missing directory")
    one_error_line(err, ["no-such-dir"], "inspect of a missing directory")
    return "inspect accepts good checkpoints (f32, bf16 sharded, qwen1) and rejects a missing one"


def rewrite_safetensors(path, drop, add, reshape):
    """Rewrites a safetensors file: without tensor drop, with a new F32 tensor
    add = (name, shape), and reshape = (name, shape) replaced by zeros of that shape."""
    with open(path, "rb") as f:
        (hlen,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(hlen))
        data = f.read()
    meta = header.pop("__metadata__", None)
    blobs = {}
    for name, ent in header.items():
        b, e = ent["data_offsets"]
        blobs[name] = (ent["dtype"], ent["shape"], data[b:e])
    if drop not in blobs or reshape[0] not in blobs:
        raise CheckFailure(f"rewrite: {drop} or {reshape[0]} is not in {path}")
    del blobs[drop]
    esize = {"F32": 4, "BF16": 2, "F16": 2}
    dtype = blobs[reshape[0]][0]
    n = 1
    for d in reshape[1]:
        n *= d
    blobs[reshape[0]] = (dtype, list(reshape[1]), bytes(n * esize[dtype]))
    n = 1
    for d in add[1]:
        n *= d
    blobs[add[0]] = ("F32", list(add[1]), bytes(4 * n))
    new_header, chunks, off = {}, [], 0
    if meta is not None:
        new_header["__metadata__"] = meta
    for name in sorted(blobs):
        dtype, shape, raw = blobs[name]
        new_header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    text = json.dumps(new_header).encode()
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)
    os.replace(tmp, path)


def check_inspect_broken(args):
    cases = [
        ("configs/test/qwen3-tiny.yaml", "broken-qwen3", "model.layers.1.mlp.up_proj.weight",
         ("model.layers.0.self_attn.extra.weight", [4, 4]), ("model.layers.0.self_attn.q_norm.weight", [8])),
        ("configs/test/qwen1-tiny.yaml", "broken-qwen1", "transformer.h.0.attn.c_attn.bias",
         ("transformer.h.1.attn.rotary_emb.inv_freq", [8]), ("transformer.h.1.mlp.w2.weight", [64, 64])),
    ]
    for config, name, drop, add, reshape in cases:
        ckpt = synth(args, config, name)
        rewrite_safetensors(os.path.join(ckpt, "model.safetensors"), drop, add, reshape)
        out, err = run([args.lmcc, "inspect", ckpt, "--config", os.path.join(args.root, config)], expect_rc=1,
                       what=f"inspect {name}")
        report = out[out.find("mapping against"):]
        want = [("missing", drop), ("unexpected", add[0]), ("mis-shaped", reshape[0])]
        for kind, tensor in want:
            if not any(l.split()[:2] == [kind, tensor + ":"] for l in report.splitlines() if l.strip()):
                raise CheckFailure(f"inspect {name}: report lacks '{kind} {tensor}':\n{report}")
        problems = [l for l in report.splitlines() if l.startswith("  ")]
        if len(problems) != 3:
            raise CheckFailure(f"inspect {name}: expected exactly 3 problems, got {len(problems)}:\n{report}")
        if "1 missing, 1 unexpected, 1 mis-shaped" not in report:
            raise CheckFailure(f"inspect {name}: summary line wrong:\n{report}")
        one_error_line(err, [ckpt, "3 problems"], f"inspect {name}")

    # A config.json field that disagrees with the config is reported too.
    ckpt = synth(args, "configs/test/qwen3-tiny.yaml", "broken-config-json")
    with open(os.path.join(ckpt, "config.json")) as f:
        cfg = json.load(f)
    cfg["num_hidden_layers"] = 3
    with open(os.path.join(ckpt, "config.json"), "w") as f:
        json.dump(cfg, f)
    out, err = run([args.lmcc, "inspect", ckpt, "--config", os.path.join(args.root, "configs/test/qwen3-tiny.yaml")],
                   expect_rc=1, what="inspect with a wrong config.json")
    if "config.json num_hidden_layers: 3" not in out:
        raise CheckFailure(f"inspect: config.json difference not reported:\n{out}")
    return "inspect reports every missing, unexpected and mis-shaped tensor in one run"


def check_registry_errors(args):
    checked = []
    # lmcc inspect --config MODEL:SIZE goes through the registry.
    ckpt = synth(args, "configs/test/qwen3-tiny.yaml", "registry-errors")
    _, err = run([args.lmcc, "inspect", ckpt, "--config", "qwen9:7B"], expect_rc=1, what="inspect --config qwen9:7B")
    one_error_line(err, ["unknown model type 'qwen9'", "qwen1, qwen2, qwen3"], "inspect --config qwen9:7B")
    _, err = run([args.lmcc, "inspect", ckpt, "--config", "qwen3:7B"], expect_rc=1, what="inspect --config qwen3:7B")
    one_error_line(err, ["unknown size '7B'", "0.6B, 1.7B, 4B, 8B, 14B, 32B"], "inspect --config qwen3:7B")
    checked.append("inspect --config")

    # lmcc build MODEL --size S [--variant V], where the build command takes them.
    help_text, _ = run([args.lmcc, "build", "--help"], what="build --help")
    if "--size" in help_text:
        _, err = run([args.lmcc, "build", "qwen9", "--size", "7B", "--emit-only", "-o", os.path.join(args.work, "x")],
                     expect_rc=1, what="build qwen9")
        one_error_line(err, ["qwen9", "qwen1, qwen2, qwen3"], "build qwen9 --size 7B")
        _, err = run([args.lmcc, "build", "qwen3", "--size", "7B", "--emit-only", "-o", os.path.join(args.work, "x")],
                     expect_rc=1, what="build qwen3 --size 7B")
        one_error_line(err, ["7B", "0.6B, 1.7B, 4B, 8B, 14B, 32B"], "build qwen3 --size 7B")
        checked.append("build --size")
        if "--variant" in help_text:
            _, err = run([args.lmcc, "build", "qwen3", "--size", "8B", "--variant", "chat", "--emit-only", "-o",
                          os.path.join(args.work, "x")], expect_rc=1, what="build qwen3 --variant chat")
            one_error_line(err, ["chat", "base, instruct, reasoning"], "build qwen3 --size 8B --variant chat")
            checked.append("build --variant")
    return "registry errors are one line listing what exists (" + ", ".join(checked) + ")"


CHECKS = {
    "registry-configs": check_registry_configs,
    "list": check_list,
    "inspect-good": check_inspect_good,
    "inspect-broken": check_inspect_broken,
    "registry-errors": check_registry_errors,
}


def main(argv=None):
    ap = argparse.ArgumentParser(description="lmcc registry and command checks")
    ap.add_argument("--lmcc", required=True)
    ap.add_argument("--root", required=True, help="the lmcc source tree")
    ap.add_argument("--work", required=True)
    ap.add_argument("check", choices=sorted(CHECKS))
    args = ap.parse_args(argv)
    args.work = os.path.abspath(args.work)
    shutil.rmtree(args.work, ignore_errors=True)
    os.makedirs(args.work)
    try:
        summary = CHECKS[args.check](args)
    except CheckFailure as exc:
        print(f"{args.check}: FAIL: {exc}")
        return 1
    print(f"{args.check}: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
