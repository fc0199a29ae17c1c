#!/usr/bin/env python3
"""Bad input, end to end: every case must fail with exactly one line on
stderr of the form '<prog>: error: ...', a non-zero exit (not a signal, so
no crash) and no half-written output.

Config cases run `lmcc build --emit-only`; checkpoint cases build the tiny
Qwen3 once, make a good checkpoint with `lmcc synth`, then break a copy of it
in one way each (the safetensors files are rewritten here, by hand)."""

import argparse
import json
import os
import shutil
import struct
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = os.path.join(ROOT, "configs", "test", "qwen3-tiny.yaml")
QWEN2_TINY = os.path.join(ROOT, "configs", "test", "qwen2-tiny.yaml")
MOE_TINY = os.path.join(ROOT, "configs", "test", "qwen3-moe-tiny.yaml")
LLAMA_TINY = os.path.join(ROOT, "configs", "test", "llama-tiny-rope-llama3.yaml")
GEMMA3_TINY = os.path.join(ROOT, "configs", "test", "gemma3-tiny.yaml")
GEMMA3_TINY_MM = os.path.join(ROOT, "configs", "test", "gemma3-tiny-mm.yaml")

failures = []


def check_error(name, proc, prog, expect, outdir=None):
    """proc failed cleanly with one error line containing every expect."""
    err = proc.stderr.decode("utf-8", "replace")
    lines = [l for l in err.splitlines() if l.strip()]
    problems = []
    if proc.returncode <= 0:
        problems.append(f"exit status {proc.returncode} (want > 0; negative means a signal)")
    if len(lines) != 1:
        problems.append(f"{len(lines)} stderr lines (want 1)")
    if not lines or not lines[-1].startswith(f"{prog}: error: "):
        problems.append(f"stderr does not start with '{prog}: error: '")
    for e in expect:
        if e not in err:
            problems.append(f"message lacks {e!r}")
    if outdir and os.path.exists(outdir) and os.listdir(outdir):
        problems.append(f"left files in {outdir}: {os.listdir(outdir)}")
    if problems:
        failures.append(name)
        print(f"FAIL {name}: {'; '.join(problems)}\n  stderr: {err.strip()}")
    else:
        print(f"ok   {name}: {lines[0]}")


def run(cmd):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)


# ---- configs -------------------------------------------------------------

def config_cases(lmcc, work):
    base = open(TINY).read()

    def case(name, text, expect):
        path = os.path.join(work, name + ".yaml")
        with open(path, "w") as f:
            f.write(text)
        out = os.path.join(work, "out-" + name)
        check_error("config." + name, run([lmcc, "build", path, "--emit-only", "-o", out]),
                    "lmcc", expect, out)

    case("yaml_syntax", base + "extra: [1, 2\n", ["YAML", "yaml_syntax.yaml:"])
    case("missing_key", base.replace("hidden_dim: 128\n", ""), ["missing key 'hidden_dim'"])
    case("wrong_type", base.replace("num_heads: 4", 'num_heads: "four"'),
         ["wrong_type.yaml:6:", "num_heads", "expected int"])
    case("wrong_type_bool", base.replace("qk_norm: true", "qk_norm: 3"), ["qk_norm", "expected bool"])
    case("unknown_arch", base.replace("arch: qwen3", "arch: llama9"), ["unknown arch 'llama9'", "qwen3"])
    case("unknown_key", base + "rope_scaling_typo: 2\n", ["unknown key 'rope_scaling_typo'"])
    case("inconsistent_heads", base.replace("num_heads: 4", "num_heads: 6").replace("num_kv_heads: 2", "num_kv_heads: 4"),
         ["num_kv_heads", "multiple"])
    case("negative_dim", base.replace("hidden_dim: 128", "hidden_dim: -5"), ["hidden_dim", "positive"])
    case("bad_dtype", base.replace("dtype: float32", "dtype: int4"), ["dtype", "int4"])
    case("not_a_mapping", "- just\n- a list\n", ["mapping"])
    out = os.path.join(work, "out-matmul-input")
    check_error("option.matmul_input_f32_weights",
                run([lmcc, "build", TINY, "--emit-only", "-o", out, "--matmul-input", "bf16"]),
                "lmcc", ["--matmul-input bf16", "bf16 weights", "f32"], out)
    check_error("option.matmul_input_unknown",
                run([lmcc, "build", TINY, "--emit-only", "-o", out, "--matmul-input", "fp8"]),
                "lmcc", ["--matmul-input", "fp8"], out)
    check_error("option.kv_dtype_unknown",
                run([lmcc, "build", TINY, "--emit-only", "-o", out, "--kv-dtype", "int4"]),
                "lmcc", ["--kv-dtype", "int4"], out)
    check_error("config.missing_file", run([lmcc, "build", os.path.join(work, "nope.yaml"), "--emit-only",
                                            "-o", os.path.join(work, "out-nofile")]), "lmcc", ["nope.yaml"])


# ---- checkpoints ---------------------------------------------------------

DTYPE_SIZE = {"F32": 4, "BF16": 2, "F16": 2, "I32": 4, "I64": 8}


def read_st(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    body = data[8 + n:]
    tensors = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        tensors[name] = (info["dtype"], info["shape"], body[b:e])
    return tensors


def write_st(path, tensors, header_patch=None, raw_header=None):
    header, body = {}, b""
    for name in sorted(tensors):
        dtype, shape, blob = tensors[name]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(body), len(body) + len(blob)]}
        body += blob
    if header_patch:
        header_patch(header)
    text = raw_header if raw_header is not None else json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + body)


def copy_variant(good, work, name, mutate):
    """A copy of the good checkpoint, broken by mutate(dir)."""
    d = os.path.join(work, name)
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(good, d)
    mutate(d)
    return d


def rewrite_st(fn, st="model.safetensors"):
    """A mutation that edits the tensors of st with fn(tensors) and writes it back."""
    def m(d):
        t = read_st(os.path.join(d, st))
        fn(t)
        write_st(os.path.join(d, st), t)
    return m


def checkpoint_cases(lmcc, work):
    good = os.path.join(work, "good")
    bindir = os.path.join(work, "bin")
    for cmd in ([lmcc, "synth", TINY, "-o", good, "--seed", "7", "--dtype", "f32"],
                [lmcc, "build", TINY, "-o", bindir]):
        p = run(cmd)
        if p.returncode != 0:
            print(p.stderr.decode())
            sys.exit(f"setup failed: {' '.join(cmd)}")
    exe = os.path.join(bindir, "qwen3-tiny")
    prog = "qwen3-tiny"
    st = "model.safetensors"

    def variant(name, mutate):
        return copy_variant(good, work, name, mutate)

    def run_exe(d, tokens="1,2,3", extra=()):
        return run([exe, "-m", d, "--tokens", tokens, "-n", "2", *extra])

    rewrite = rewrite_st

    # The good checkpoint works.
    p = run_exe(good)
    if p.returncode != 0:
        failures.append("good")
        print("FAIL good checkpoint: " + p.stderr.decode())

    d = variant("missing_tensor", rewrite(lambda t: t.pop("model.norm.weight")))
    check_error("ckpt.missing_tensor", run_exe(d), prog, ["missing tensor 'model.norm.weight'"])

    def add_extra(t):
        t["model.extra.weight"] = ("F32", [4], struct.pack("<4f", 1, 2, 3, 4))
    d = variant("unexpected_tensor", rewrite(add_extra))
    check_error("ckpt.unexpected_tensor", run_exe(d), prog, ["unexpected tensor 'model.extra.weight'"])

    def wrong_shape(t):
        t["model.norm.weight"] = ("F32", [32], struct.pack("<32f", *([1.0] * 32)))
    d = variant("wrong_shape", rewrite(wrong_shape))
    check_error("ckpt.wrong_shape", run_exe(d), prog, ["model.norm.weight", "[32]", "[64]"])

    def wrong_dtype(t):
        t["model.norm.weight"] = ("I32", [64], struct.pack("<64i", *([1] * 64)))
    d = variant("wrong_dtype", rewrite(wrong_dtype))
    check_error("ckpt.wrong_dtype", run_exe(d), prog, ["model.norm.weight", "I32"])

    def several(t):
        t.pop("model.norm.weight")
        t["model.extra.weight"] = ("F32", [4], struct.pack("<4f", 1, 2, 3, 4))
        t["model.layers.0.input_layernorm.weight"] = ("F32", [3], struct.pack("<3f", 1, 2, 3))
    d = variant("all_problems", rewrite(several))
    check_error("ckpt.all_problems_at_once", run_exe(d), prog,
                ["model.norm.weight", "model.extra.weight", "model.layers.0.input_layernorm.weight"])

    def truncate(d):
        path = os.path.join(d, st)
        size = os.path.getsize(path)
        with open(path, "r+b") as f:
            f.truncate(size // 2)
    d = variant("truncated", truncate)
    check_error("ckpt.truncated", run_exe(d), prog, [st])

    def tiny_file(d):
        with open(os.path.join(d, st), "wb") as f:
            f.write(b"\x01\x02\x03")
    d = variant("truncated_header", tiny_file)
    check_error("ckpt.shorter_than_header_length", run_exe(d), prog, [st])

    def huge_header(d):
        path = os.path.join(d, st)
        with open(path, "r+b") as f:
            f.write(struct.pack("<Q", 1 << 40))
    d = variant("huge_header", huge_header)
    check_error("ckpt.header_longer_than_file", run_exe(d), prog, [st, "header"])

    def past_end(d):
        t = read_st(os.path.join(d, st))
        def patch(h):
            h["model.norm.weight"]["data_offsets"][1] += 1 << 20
        write_st(os.path.join(d, st), t, header_patch=patch)
    d = variant("past_end", past_end)
    check_error("ckpt.offsets_past_end", run_exe(d), prog, ["model.norm.weight"])

    def overlap(d):
        t = read_st(os.path.join(d, st))
        def patch(h):
            # Point the k_norm at the q_norm's bytes (same size): overlap.
            h["model.layers.0.self_attn.k_norm.weight"]["data_offsets"] = \
                list(h["model.layers.0.self_attn.q_norm.weight"]["data_offsets"])
        write_st(os.path.join(d, st), t, header_patch=patch)
    d = variant("overlap", overlap)
    check_error("ckpt.overlapping_offsets", run_exe(d), prog, ["overlap"])

    d = variant("bad_json", lambda d: write_st(os.path.join(d, st), {}, raw_header=b"{not json"))
    check_error("ckpt.header_not_json", run_exe(d), prog, [st])

    def config_mismatch(d):
        path = os.path.join(d, "config.json")
        cfg = json.load(open(path))
        cfg["num_attention_heads"] = 8
        cfg["rope_theta"] = 10000.0
        json.dump(cfg, open(path, "w"))
    d = variant("config_mismatch", config_mismatch)
    check_error("ckpt.config_json_disagrees", run_exe(d), prog, ["num_attention_heads", "rope_theta"])

    check_error("run.token_out_of_range", run_exe(good, tokens="1,2,512"), prog, ["512"])
    check_error("run.token_not_a_number", run_exe(good, tokens="1,x,3"), prog, ["x"])
    long_prompt = ",".join(str(i % 500) for i in range(300))
    check_error("run.more_tokens_than_context", run_exe(good, tokens=long_prompt), prog, ["256"])
    check_error("run.missing_checkpoint", run_exe(os.path.join(work, "nothing-here")), prog, ["nothing-here"])


# ---- Qwen2: sliding windows refused, biases as the architecture says ------

def synth_and_build(lmcc, work, config, tag):
    """(checkpoint dir, executable) of config: an f32 checkpoint from lmcc
    synth and the model built from it; exits when either fails."""
    good = os.path.join(work, tag + "-good")
    bindir = os.path.join(work, tag + "-bin")
    for cmd in ([lmcc, "synth", config, "-o", good, "--seed", "7", "--dtype", "f32"],
                [lmcc, "build", config, "-o", bindir]):
        p = run(cmd)
        if p.returncode != 0:
            print(p.stderr.decode())
            sys.exit(f"setup failed: {' '.join(cmd)}")
    return good, os.path.join(bindir, os.path.basename(config)[:-len(".yaml")])


def qwen2_cases(lmcc, work):
    base = open(QWEN2_TINY).read()
    path = os.path.join(work, "qwen2_sliding.yaml")
    with open(path, "w") as f:
        f.write(base + "use_sliding_window: true\n")
    out = os.path.join(work, "out-qwen2-sliding")
    check_error("config.qwen2_use_sliding_window", run([lmcc, "build", path, "--emit-only", "-o", out]),
                "lmcc", ["qwen2_sliding.yaml:14:", "use_sliding_window", "not supported"], out)

    good, exe = synth_and_build(lmcc, work, QWEN2_TINY, "qwen2")

    # lmcc import of a config.json that turns sliding windows on.
    cfg = json.load(open(os.path.join(good, "config.json")))
    cfg["use_sliding_window"] = True
    hf = os.path.join(work, "qwen2-sliding-config.json")
    json.dump(cfg, open(hf, "w"))
    check_error("import.qwen2_use_sliding_window", run([lmcc, "import", hf]), "lmcc",
                ["use_sliding_window", "not supported"])

    def variant(name, mutate):
        return copy_variant(good, work, name, mutate)

    def run_exe(d):
        return run([exe, "-m", d, "--tokens", "1,2,3", "-n", "2"])

    rewrite = rewrite_st

    def sliding_on(d):
        json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
    check_error("ckpt.qwen2_use_sliding_window", run_exe(variant("qwen2-sliding", sliding_on)), "qwen2-tiny",
                ["use_sliding_window", "true"])
    d = variant("qwen2-no-k-bias", rewrite(lambda t: t.pop("model.layers.1.self_attn.k_proj.bias")))
    check_error("ckpt.qwen2_missing_bias", run_exe(d), "qwen2-tiny",
                ["missing tensor 'model.layers.1.self_attn.k_proj.bias'"])

    def o_proj_bias(t):
        t["model.layers.0.self_attn.o_proj.bias"] = ("F32", [64], struct.pack("<64f", *([0.5] * 64)))
    d = variant("qwen2-o-bias", rewrite(o_proj_bias))
    check_error("ckpt.qwen2_unexpected_bias", run_exe(d), "qwen2-tiny",
                ["unexpected tensor 'model.layers.0.self_attn.o_proj.bias'"])


# ---- Qwen3 MoE: routing keys, and a checkpoint routed otherwise -----------

def write_config(cfg):
    """A copy_variant mutation: the copy's config.json becomes cfg."""
    def mutate(d):
        json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
    return mutate


def config_case(lmcc, work, name, text, expect):
    """A config file of text must fail `lmcc build --emit-only` with expect."""
    path = os.path.join(work, name + ".yaml")
    with open(path, "w") as f:
        f.write(text)
    out = os.path.join(work, "out-" + name)
    check_error("config." + name, run([lmcc, "build", path, "--emit-only", "-o", out]), "lmcc", expect, out)


def moe_cases(lmcc, work):
    base = open(MOE_TINY).read()

    def case(name, text, expect):
        config_case(lmcc, work, name, text, expect)

    case("moe_topk_over_experts", base.replace("experts_per_token: 2", "experts_per_token: 9"),
         ["moe_topk_over_experts.yaml:", "experts_per_token (9) must not exceed num_experts (8)"])
    case("moe_dense_layer_out_of_range", base + "dense_layers: [2]\n",
         ["dense_layers names layer 2", "layers 0 to 1"])
    case("moe_dense_layers_not_ints", base + "dense_layers: [one]\n",
         ["dense_layers", "expected list of non-negative ints"])
    case("moe_sparse_step_zero", base + "sparse_step: 0\n", ["sparse_step must be positive"])

    good, exe = synth_and_build(lmcc, work, MOE_TINY, "moe")
    cfg = json.load(open(os.path.join(good, "config.json")))

    def with_config(**changes):
        return write_config(dict(cfg, **changes))

    # Routing that differs from the compiled model's is refused by name.
    for name, changes, expect in (
            ("moe_dense_layers", {"mlp_only_layers": [1]}, ["mlp_only_layers is [1], compiled []"]),
            ("moe_renorm_off", {"norm_topk_prob": False}, ["norm_topk_prob is false, compiled true"]),
            ("moe_topk", {"num_experts_per_tok": 3}, ["num_experts_per_tok is 3, compiled 2"])):
        d = copy_variant(good, work, name, with_config(**changes))
        check_error("ckpt." + name, run([exe, "-m", d, "--tokens", "1,2,3", "-n", "2"]), "qwen3-moe-tiny", expect)
    d = copy_variant(good, work, "moe-no-expert", rewrite_st(
        lambda t: t.pop("model.layers.1.mlp.experts.5.down_proj.weight")))
    check_error("ckpt.moe_missing_expert", run([exe, "-m", d, "--tokens", "1,2,3", "-n", "2"]), "qwen3-moe-tiny",
                ["missing tensor 'model.layers.1.mlp.experts.5.down_proj.weight'"])

    # A router with one expert too few: the layer's gate names its shape.
    def short_router(t):
        dtype, shape, blob = t["model.layers.0.mlp.gate.weight"]
        rows = shape[0] - 1
        t["model.layers.0.mlp.gate.weight"] = (dtype, [rows, shape[1]], blob[:len(blob) * rows // shape[0]])
    d = copy_variant(good, work, "moe-short-router", rewrite_st(short_router))
    check_error("ckpt.moe_router_shape", run([exe, "-m", d, "--tokens", "1,2,3", "-n", "2"]), "qwen3-moe-tiny",
                ["model.layers.0.mlp.gate.weight", "has shape [7, 64], expected [8, 64]"])


# ---- Gemma 3: the layer pattern, imports it cannot express, its tensors ----

def gemma3_cases(lmcc, work):
    base = open(GEMMA3_TINY).read()

    def case(name, text, expect):
        config_case(lmcc, work, name, text, expect)

    case("gemma3_global_layer_out_of_range", base.replace("global_layers: [2, 5]", "global_layers: [2, 9]"),
         ["global_layers: layer 9 does not exist", "0 to 5"])
    case("gemma3_global_layers_unordered", base.replace("global_layers: [2, 5]", "global_layers: [5, 2]"),
         ["global_layers must be in increasing order"])
    case("gemma3_window_zero", base.replace("sliding_window: 8", "sliding_window: 0"),
         ["sliding_window must be positive"])

    good, exe = synth_and_build(lmcc, work, GEMMA3_TINY, "gemma3")
    cfg = json.load(open(os.path.join(good, "config.json")))

    def import_case(name, changes, expect):
        path = os.path.join(work, name + ".json")
        json.dump(dict(cfg, **changes), open(path, "w"))
        check_error("import." + name, run([lmcc, "import", path]), "lmcc", expect)

    types = list(cfg["layer_types"])
    types[1] = "chunked_attention"
    import_case("gemma3_unknown_layer_type", {"layer_types": types},
                ["layer_types[1]: unknown layer type 'chunked_attention'"])
    import_case("gemma3_layer_types_count", {"layer_types": cfg["layer_types"][:4]},
                ["layer_types lists 4 layers, num_hidden_layers is 6"])
    import_case("gemma3_bidirectional", {"use_bidirectional_attention": True},
                ["use_bidirectional_attention is true"])
    import_case("gemma3_activation", {"hidden_activation": "gelu"}, ["hidden_activation 'gelu' is not supported"])
    import_case("gemma3_rope_yarn", {"rope_scaling": {"rope_type": "yarn", "factor": 4.0}},
                ["rope_scaling type 'yarn' is not supported"])

    def with_config(**changes):
        return write_config(dict(cfg, **changes))

    d = copy_variant(good, work, "gemma3-window", with_config(sliding_window=16))
    check_error("ckpt.gemma3_window", run([exe, "-m", d, "--tokens", "1,2,3", "-n", "2"]), "gemma3-tiny",
                ["sliding_window is 16, compiled 8"])
    swapped = list(cfg["layer_types"])
    swapped[1], swapped[2] = swapped[2], swapped[1]
    d = copy_variant(good, work, "gemma3-layer-types", with_config(layer_types=swapped))
    check_error("ckpt.gemma3_layer_types", run([exe, "-m", d, "--tokens", "1,2,3", "-n", "2"]), "gemma3-tiny",
                ["layer_types[1] is the string \"full_attention\", compiled sliding_attention"])
    d = copy_variant(good, work, "gemma3-layer-count", with_config(layer_types=cfg["layer_types"][:5]))
    check_error("ckpt.gemma3_layer_types_count", run([exe, "-m", d, "--tokens", "1,2,3", "-n", "2"]), "gemma3-tiny",
                ["layer_types has 5 items, compiled 6"])
    older = {k: v for k, v in cfg.items() if k != "layer_types"}
    older["sliding_window_pattern"] = 2
    d = copy_variant(good, work, "gemma3-pattern", write_config(older))
    check_error("ckpt.gemma3_window_pattern", run([exe, "-m", d, "--tokens", "1,2,3", "-n", "2"]), "gemma3-tiny",
                ["sliding_window_pattern is 2, compiled 3"])
    d = copy_variant(good, work, "gemma3-no-postnorm", rewrite_st(
        lambda t: t.pop("model.layers.1.post_feedforward_layernorm.weight")))
    check_error("ckpt.gemma3_missing_norm", run([exe, "-m", d, "--tokens", "1,2,3", "-n", "2"]), "gemma3-tiny",
                ["missing tensor 'model.layers.1.post_feedforward_layernorm.weight'"])

    # Not an error: a window at least the context restricts nothing, and
    # every layer gets a plain cache of the context (--stats shows no rings).
    path = os.path.join(work, "gemma3-wide-window.yaml")
    open(path, "w").write(base.replace("sliding_window: 8", "sliding_window: 100000"))
    wide, wide_exe = synth_and_build(lmcc, work, path, "gemma3-wide")
    proc = run([wide_exe, "-m", wide, "--tokens", "1,2,3", "-n", "2", "--stats"])
    err = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0 or "kv cache:" not in err or "rings" in err:
        failures.append("handled.gemma3_wide_window")
        print(f"FAIL handled.gemma3_wide_window: exit {proc.returncode}\n  stderr: {err.strip()}")
    else:
        print("ok   handled.gemma3_wide_window: " + next(l for l in err.splitlines() if l.startswith("kv cache:")))


# ---- Gemma 3 multimodal checkpoints: the text model, the rest left unread --

def gemma3_multimodal_cases(lmcc, work):
    base = open(GEMMA3_TINY_MM).read()
    config_case(lmcc, work, "gemma3_mm_softcap", base.replace("final_softcap: 0.0", "final_softcap: 30.0"),
                ["final_softcap must be 0 with multimodal"])
    good, exe = synth_and_build(lmcc, work, GEMMA3_TINY_MM, "gemma3-mm")
    prog = "gemma3-tiny-mm"

    def run_exe(d):
        return run([exe, "-m", d, "--tokens", "1,2,3", "-n", "2"])

    # The image encoder's tensors are present in a real checkpoint: each is
    # left unread, and one note says how many and why.
    def add_vision(t):
        t["vision_tower.vision_model.embeddings.patch_embedding.weight"] = ("F32", [4, 3, 2, 2], bytes(4 * 48))
        t["vision_tower.vision_model.post_layernorm.weight"] = ("BF16", [4], bytes(8))
        t["multi_modal_projector.mm_input_projection_weight"] = ("F32", [4, 64], bytes(4 * 256))
    d = copy_variant(good, work, "gemma3-mm-vision", rewrite_st(add_vision))
    proc, want = run_exe(d), run_exe(good)
    err = proc.stderr.decode("utf-8", "replace")
    note = "note: " + d + ": 3 tensors (0.0 MB) under vision_tower., multi_modal_projector. left unread"
    if proc.returncode != 0 or note not in err or proc.stdout != want.stdout or "note:" in want.stderr.decode():
        failures.append("handled.gemma3_mm_vision")
        print(f"FAIL handled.gemma3_mm_vision: exit {proc.returncode}, want the note {note!r}\n"
              f"  stderr: {err.strip()}")
    else:
        print("ok   handled.gemma3_mm_vision: " + next(l for l in err.splitlines() if l.startswith("note:")))

    # A tensor outside the declared prefixes is still an error.
    d = copy_variant(good, work, "gemma3-mm-stray", rewrite_st(
        lambda t: t.__setitem__("vision_towerX.weight", ("F32", [2], bytes(8)))))
    check_error("ckpt.gemma3_mm_stray", run_exe(d), prog, ["unexpected tensor 'vision_towerX.weight'"])

    # The text model's tensors missing: each is named.
    def drop_text(t):
        t.pop("language_model.model.norm.weight")
        t.pop("language_model.model.layers.3.mlp.down_proj.weight")
    d = copy_variant(good, work, "gemma3-mm-no-text", rewrite_st(drop_text))
    check_error("ckpt.gemma3_mm_missing_text", run_exe(d), prog,
                ["missing tensor 'language_model.model.norm.weight'",
                 "missing tensor 'language_model.model.layers.3.mlp.down_proj.weight'"])

    # A text-only checkpoint (Gemma3ForCausalLM's config and names) is not
    # the multimodal one: config.json says where.
    text_good, _ = synth_and_build(lmcc, work, GEMMA3_TINY, "gemma3-mm-textonly")
    check_error("ckpt.gemma3_mm_text_checkpoint", run_exe(text_good), prog,
                ["model_type is the string \"gemma3_text\", but gemma3-tiny-mm was compiled for model_type \"gemma3\""])

    # The text model's settings are checked inside text_config.
    cfg = json.load(open(os.path.join(good, "config.json")))
    changed = json.loads(json.dumps(cfg))
    changed["text_config"]["sliding_window"] = 16
    changed["text_config"]["rope_scaling"]["factor"] = 8.0
    d = copy_variant(good, work, "gemma3-mm-window", write_config(changed))
    check_error("ckpt.gemma3_mm_window", run_exe(d), prog,
                ["text_config.sliding_window is 16, compiled 8", "text_config.rope_scaling.factor is 8, compiled 4"])

    path = os.path.join(work, "gemma3_mm_text_config.json")
    json.dump(dict(cfg, text_config=[1, 2]), open(path, "w"))
    check_error("import.gemma3_mm_text_config", run([lmcc, "import", path]), "lmcc", ["text_config must be an object"])


# ---- Llama: rope_scaling types lmcc does not have -------------------------

def tiny_tokenizer_json():
    """A byte-level BPE tokenizer.json with the 256 byte tokens and no merges."""
    printable = [b for b in range(256) if 33 <= b <= 126 or 161 <= b <= 172 or b >= 174]
    chars, n = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + n)
            n += 1
    return {"model": {"type": "BPE", "vocab": {chars[b]: b for b in range(256)}, "merges": []},
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
            "decoder": {"type": "ByteLevel"}, "added_tokens": []}


def llama_cases(lmcc, work):
    base = open(LLAMA_TINY).read()
    path = os.path.join(work, "llama_yarn.yaml")
    with open(path, "w") as f:
        f.write(base.replace("rope_scaling_type: llama3", "rope_scaling_type: yarn"))
    out = os.path.join(work, "out-llama-yarn")
    check_error("config.llama_unknown_rope_scaling", run([lmcc, "build", path, "--emit-only", "-o", out]),
                "lmcc", ["llama_yarn.yaml:15:", "rope_scaling type 'yarn'", "linear, llama3"], out)
    ck = os.path.join(work, "llama-ck")
    p = run([lmcc, "synth", LLAMA_TINY, "-o", ck, "--seed", "3"])
    if p.returncode != 0:
        print(p.stderr.decode())
        sys.exit("setup failed: lmcc synth " + LLAMA_TINY)
    cfg = json.load(open(os.path.join(ck, "config.json")))
    cfg["rope_scaling"] = {"rope_type": "dynamic", "factor": 2.0}
    hf = os.path.join(work, "llama-dynamic-config.json")
    json.dump(cfg, open(hf, "w"))
    check_error("import.llama_dynamic_rope_scaling", run([lmcc, "import", hf]), "lmcc",
                ["rope_scaling type 'dynamic'", "not supported"])

    bindir = os.path.join(work, "llama-bin")
    p = run([lmcc, "build", LLAMA_TINY, "-o", bindir])
    if p.returncode != 0:
        print(p.stderr.decode())
        sys.exit("setup failed: lmcc build " + LLAMA_TINY)
    exe = os.path.join(bindir, "llama-tiny-rope-llama3")
    # A Llama checkpoint without tokenizer.json, given text.
    check_error("ckpt.llama_without_tokenizer", run([exe, "-m", ck, "-p", "Hello", "-n", "2"]),
                "llama-tiny-rope-llama3", ["llama-ck: no tokenizer.json or qwen.tiktoken"])

    # A chat template lmcc does not render: one error naming the file, not a
    # conversation in a format the model was not trained on.
    def foreign_template(d):
        with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
            json.dump({"chat_template": "{% for m in messages %}[INST] {{ m.content }} [/INST]{% endfor %}"}, f)
        with open(os.path.join(d, "tokenizer.json"), "w") as f:
            json.dump(tiny_tokenizer_json(), f)
    d = copy_variant(ck, work, "llama-foreign-template", foreign_template)
    p = subprocess.run([exe, "-m", d, "--chat"], input=b"Hi\n", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=120)
    check_error("ckpt.llama_unknown_chat_template", p, "llama-tiny-rope-llama3",
                ["tokenizer_config.json: the chat_template is not one lmcc renders", "--chat-format"])

    # A checkpoint scaled another way than compiled (the type), and one that
    # scales where the model was compiled without scaling.
    def other_type(d):
        cfg = json.load(open(os.path.join(d, "config.json")))
        cfg["rope_scaling"]["rope_type"] = "linear"
        json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
    d = copy_variant(ck, work, "llama-linear-type", other_type)
    check_error("ckpt.llama_rope_scaling_type_disagrees", run([exe, "-m", d, "--tokens", "1,2,3", "-n", "2"]),
                "llama-tiny-rope-llama3", ["rope_scaling.rope_type is the string \"linear\", compiled \"llama3\""])
    plain = os.path.join(ROOT, "configs", "test", "llama-tiny-headdim-bias.yaml")
    plain_ck, plain_bin = os.path.join(work, "llama-plain-ck"), os.path.join(work, "llama-plain-bin")
    for cmd in ([lmcc, "synth", plain, "-o", plain_ck, "--seed", "3"], [lmcc, "build", plain, "-o", plain_bin]):
        p = run(cmd)
        if p.returncode != 0:
            print(p.stderr.decode())
            sys.exit("setup failed: " + " ".join(cmd))
    cfg = json.load(open(os.path.join(plain_ck, "config.json")))
    assert "rope_scaling" not in cfg
    cfg["rope_scaling"] = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                           "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}
    json.dump(cfg, open(os.path.join(plain_ck, "config.json"), "w"))
    check_error("ckpt.llama_scaled_checkpoint_unscaled_model",
                run([os.path.join(plain_bin, "llama-tiny-headdim-bias"), "-m", plain_ck, "--tokens", "1,2", "-n", "2"]),
                "llama-tiny-headdim-bias", ["rope_scaling is an object, compiled without it"])

    # A checkpoint whose rope_scaling factor differs from the compiled one.
    cfg = json.load(open(os.path.join(ck, "config.json")))
    cfg["rope_scaling"]["factor"] = 16.0
    json.dump(cfg, open(os.path.join(ck, "config.json"), "w"))
    check_error("ckpt.llama_rope_scaling_disagrees", run([exe, "-m", ck, "--tokens", "1,2,3", "-n", "2"]),
                "llama-tiny-rope-llama3", ["rope_scaling.factor is 16", "compiled 8"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lmcc", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    config_cases(a.lmcc, a.work)
    checkpoint_cases(a.lmcc, a.work)
    qwen2_cases(a.lmcc, a.work)
    llama_cases(a.lmcc, a.work)
    moe_cases(a.lmcc, a.work)
    gemma3_cases(a.lmcc, a.work)
    gemma3_multimodal_cases(a.lmcc, a.work)
    if failures:
        print(f"{len(failures)} bad-input case(s) failed: {', '.join(failures)}")
        return 1
    print("all bad-input cases fail cleanly")
    return 0


if __name__ == "__main__":
    sys.exit(main())
