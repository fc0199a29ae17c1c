#!/usr/bin/python3
"""Independent f32 reference for Hugging Face transformers' Gemma3ForCausalLM
(model_type gemma3_text: Gemma 3 1B and the text part of the larger ones).

Written from the transformers semantics (modeling_gemma3.py and
configuration_gemma3.py, eager attention; modeling_rope_utils.py for
rope_scaling), not from lmcc's C code, so the golden tests compare two
implementations:

  x = embed_tokens(ids) * sqrt(hidden_size)        (rounded as below)
  per layer:
      x = x + post_attention_layernorm(o_proj(attn(rope(q_norm(q)), rope(k_norm(k)), v)))
          with q, k, v = q_proj/k_proj/v_proj(input_layernorm(x))
      x = x + post_feedforward_layernorm(down(gelu_tanh(gate(m)) * up(m))),
          m = pre_feedforward_layernorm(x)
  logits = lm_head(norm(x))    (lm_head is the unscaled embed_tokens when tied)
  logits = cap * tanh(logits / cap)    with cap = final_logit_softcapping, if set

Gemma3RMSNorm: in f32, x * rsqrt(mean(x^2) + eps) * (1 + w), for the four
norms of a block, q_norm and k_norm (per head, over head_dim) and model.norm.

Attention: scores = q k^T * query_pre_attn_scalar ** -0.5 (not head_dim),
grouped-query, causal. Each layer is "sliding_attention" (local) or
"full_attention" (global), from config.json's layer_types; without it from
sliding_window_pattern P (default 6): layer i is global when (i + 1) % P == 0,
as Gemma3TextConfig builds layer_types. A local layer's query at position q
sees the key at k only when 0 <= q - k < sliding_window, that is itself and
the sliding_window - 1 keys before it: masking_utils' sliding_window_overlay
allows kv_idx > q_idx - sliding_window, and-ed with the causal kv_idx <= q_idx.
A global layer sees every earlier position.

RoPE (rotate-half, inv_freq = 1 / theta^(2i/d) in f32): global layers use
rope_theta with rope_scaling (null, "default", or "linear": inv_freq / factor);
local layers use rope_local_base_freq and never rope_scaling
(Gemma3TextModel builds its local rotary embedding from a copy of the config
with rope_scaling {"rope_type": "default"}; transformers 5's rope_parameters
apply rope_scaling to "full_attention" only). A config.json written by
transformers 5 with rope_parameters per layer type is read the same way.

Embedding scale: Gemma3TextScaledWordEmbedding multiplies by the f32 tensor
sqrt(hidden_size) cast to the embedding weight's dtype, the product in that
dtype: a model computing in bf16 gives x = bf16(w * bf16(sqrt(H)))
(sqrt(1152) = 33.941 becomes 34.0), one computing in f32 the f32 product,
from bf16 weights too. Here, as for every other rounding, the reference
computes as transformers' bf16 model under --matmul-input bf16 (the
compiled model's bf16 inputs, a bf16 build's default) and as its f32 model
otherwise.

attn_logit_softcapping is read and NOT applied: Gemma3Attention does not pass
it to the attention function (Gemma2Attention does, as softcap=), in every
transformers version from 4.50 on, so transformers computes a Gemma 3 with
attn_logit_softcapping set exactly as without it. The released Gemma 3
checkpoints set it to null.

Numerics: activations stay f32, as in the other references and in the
compiled model (transformers' bf16 model rounds every activation to bf16;
--matmul-input and --kv-dtype bf16 mirror the compiled model's roundings,
common.py). Only the embedding product is rounded to the checkpoint's dtype,
as above.

GEMMA3_REF_BREAK deliberately removes one feature, to prove that the golden
tests fail when the compiled model gets it wrong (never set it otherwise;
the reference says so on stderr when it is set):
  window        no sliding window: local layers see every earlier position
                (their RoPE stays rope_local_base_freq's)
  norm_offset   every Gemma3RMSNorm scales by w instead of (1 + w)
  embed_scale   the embedding is not multiplied by sqrt(hidden_size)

Usage (common.main): gemma3_ref.py CKPT --tokens 1,2,3 [--logits OUT.npy] [-n N]
"""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import BaseConfig, check_shapes, load_checkpoint, main, rms_norm, rope_cos_sin  # noqa: E402
from qwen3_ref import Qwen3  # noqa: E402
from safetensors_np import CheckpointError  # noqa: E402

BREAKS = ("window", "norm_offset", "embed_scale")
LAYER_TYPES = ("sliding_attention", "full_attention")


def break_mode():
    """GEMMA3_REF_BREAK's value ("" when unset), checked."""
    mode = os.environ.get("GEMMA3_REF_BREAK", "")
    if mode and mode not in BREAKS:
        raise ValueError(f"GEMMA3_REF_BREAK={mode!r}: expected one of {', '.join(BREAKS)}")
    return mode


def rope_rule(theta, scaling, what):
    """(theta, linear factor) of one layer type's RoPE; scaling is
    rope_scaling's dict (or None), in either spelling of its type key."""
    if not scaling:
        return float(theta), 1.0
    kind = scaling.get("rope_type", scaling.get("type", "default"))
    if kind == "default":
        return float(theta), 1.0
    if kind == "linear":
        factor = float(scaling["factor"])
        if factor <= 0:
            raise ValueError(f"{what}: linear rope_scaling factor must be positive, found {factor}")
        return float(theta), factor
    raise ValueError(f"{what}: type {kind!r} is not supported by this reference "
                     f"(only default and linear)")


class Config(BaseConfig):
    """The config.json fields Gemma 3 uses, with Gemma3TextConfig's defaults.

    A Gemma3ForConditionalGeneration checkpoint (model_type gemma3) holds
    them in text_config (Gemma3Config's sub-config); that class's forward
    returns lm_head's logits as they are, without the final softcap."""

    def __init__(self, d):
        self.multimodal = d.get("model_type") == "gemma3"
        if self.multimodal:
            d = d.get("text_config") or {}
            if not isinstance(d, dict):
                raise ValueError("text_config must be an object")
        super().__init__(d)
        self.num_kv_heads = int(d.get("num_key_value_heads", 4))
        if d.get("head_dim", 256) is None:
            raise ValueError("head_dim is null; Gemma 3 needs it set")
        self.head_dim = int(d.get("head_dim", 256))
        self.eps = float(d.get("rms_norm_eps", 1e-6))
        self.tie = bool(d.get("tie_word_embeddings", True))
        self.query_pre_attn_scalar = float(d.get("query_pre_attn_scalar", 256))
        self.final_softcap = d.get("final_logit_softcapping")
        if self.final_softcap is not None:
            self.final_softcap = float(self.final_softcap)
            if self.final_softcap <= 0:
                raise ValueError(f"final_logit_softcapping must be positive or null, found {self.final_softcap}")
        if self.multimodal:
            self.final_softcap = None
        # Read, and ignored as transformers ignores it (module docstring).
        self.attn_softcap = d.get("attn_logit_softcapping")
        self.layer_types = self._layer_types(d)
        self.sliding_window = d.get("sliding_window", 4096)
        if "sliding_attention" in self.layer_types:
            if self.sliding_window is None or int(self.sliding_window) < 1:
                raise ValueError(f"sliding_window must be a positive integer for sliding_attention layers, "
                                 f"found {self.sliding_window}")
            self.sliding_window = int(self.sliding_window)
        self.rope = self._rope(d)
        act = d.get("hidden_activation", "gelu_pytorch_tanh")
        if act != "gelu_pytorch_tanh":
            raise ValueError(f"hidden_activation {act!r} is not supported by this reference "
                             f"(only gelu_pytorch_tanh)")
        if d.get("attention_bias", False):
            raise ValueError("attention_bias is not supported by this reference")
        if d.get("use_bidirectional_attention", False):
            raise ValueError("use_bidirectional_attention is not supported by this reference")
        if self.num_heads % self.num_kv_heads:
            raise ValueError("num_attention_heads must be a multiple of num_key_value_heads")
        if self.head_dim % 2:
            raise ValueError(f"head_dim must be even for RoPE, found {self.head_dim}")

    def _layer_types(self, d):
        types = d.get("layer_types")
        if types is None:
            pattern = int(d.get("sliding_window_pattern", 6))
            if pattern < 1:
                raise ValueError(f"sliding_window_pattern must be >= 1, found {pattern}")
            return ["full_attention" if (i + 1) % pattern == 0 else "sliding_attention"
                    for i in range(self.num_layers)]
        types = list(types)
        if len(types) != self.num_layers:
            raise ValueError(f"layer_types has {len(types)} entries for {self.num_layers} layers")
        bad = [t for t in types if t not in LAYER_TYPES]
        if bad:
            raise ValueError(f"layer_types: {bad[0]!r} is not one of {', '.join(LAYER_TYPES)}")
        return types

    def _rope(self, d):
        """{layer type: (theta, linear factor)}."""
        params = d.get("rope_parameters")
        if isinstance(params, dict) and set(params) & set(LAYER_TYPES):
            # transformers 5: one RoPE dict per layer type.
            defaults = {"full_attention": 1_000_000.0, "sliding_attention": 10_000.0}
            return {t: rope_rule((params.get(t) or {}).get("rope_theta", defaults[t]), params.get(t),
                                 f"rope_parameters.{t}")
                    for t in LAYER_TYPES}
        if params:
            raise ValueError("rope_parameters without per-layer-type entries is not supported by this reference")
        return {
            "full_attention": rope_rule(d.get("rope_theta", 1_000_000.0), d.get("rope_scaling"), "rope_scaling"),
            "sliding_attention": (float(d.get("rope_local_base_freq", 10_000.0)), 1.0),
        }


class Gemma3(Qwen3):
    """Qwen3's attention block (q_norm and k_norm per head, rotate-half RoPE,
    GQA, no biases) and tensor names, with Gemma 3's norms, score scale,
    windows, embedding scale, MLP and residual layout."""

    def __init__(self, ckpt_dir):
        self.brk = break_mode()
        if self.brk:
            print(f"gemma3_ref: GEMMA3_REF_BREAK={self.brk}: deliberately wrong", file=sys.stderr)
        self.cfg, self.w = load_checkpoint(ckpt_dir, Config)
        if self.cfg.multimodal:
            self.w = self._text_weights(self.w)
        check_shapes(self.w, self._expected_shapes())

    @staticmethod
    def _text_weights(w):
        """The text model's tensors of a multimodal checkpoint under the text
        model's names, as Gemma3ForConditionalGeneration's checkpoint
        conversion maps them (language_model.model.* is the text model,
        language_model.lm_head the head); the image encoder's are dropped."""
        out = {}
        for name, t in w.items():
            if name.startswith("language_model.model."):
                out["model." + name[len("language_model.model."):]] = t
            elif name.startswith("language_model.lm_head."):
                out["lm_head." + name[len("language_model.lm_head."):]] = t
            elif not name.startswith(("vision_tower.", "multi_modal_projector.")):
                raise CheckpointError(f"tensor {name} belongs to no part of Gemma3ForConditionalGeneration")
        return out

    def _expected_shapes(self):
        want = super()._expected_shapes()
        for l in range(self.cfg.num_layers):
            p = f"model.layers.{l}."
            want[p + "pre_feedforward_layernorm.weight"] = (self.cfg.hidden_size,)
            want[p + "post_feedforward_layernorm.weight"] = (self.cfg.hidden_size,)
        return want

    # --- building blocks, each as transformers computes it --------------------

    def rmsnorm(self, x, name):
        # Gemma3RMSNorm: in f32, x * rsqrt(mean(x^2) + eps), then * (1 + w).
        w = self.w[name]
        return rms_norm(x, w if self.brk == "norm_offset" else 1.0 + w, self.cfg.eps)

    def score_scale(self):
        return self.cfg.query_pre_attn_scalar ** -0.5

    def embed(self, ids):
        # Gemma3TextScaledWordEmbedding: the row times sqrt(H), the scale an f32
        # tensor cast to the weight's dtype and the product in that dtype.
        x = self.w["model.embed_tokens.weight"][ids]
        if self.brk == "embed_scale":
            return x
        scale = torch.tensor(self.cfg.hidden_size ** 0.5, dtype=torch.float32)
        if common.MATMUL_INPUT != "bf16":
            return x * scale
        # bf16 values and scale multiply exactly in f32 (8 + 8 significant
        # bits), so rounding that product once is torch's bf16 product.
        scale = scale.to(torch.bfloat16).to(torch.float32)
        return (x * scale).to(torch.bfloat16).to(torch.float32)

    def rope_for(self, layer_type, n):
        theta, factor = self.cfg.rope[layer_type]
        d = self.cfg.head_dim
        inv_freq = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
        if factor != 1.0:
            inv_freq = inv_freq / factor
        return rope_cos_sin(inv_freq, n)

    def activation(self, x):
        # gelu_pytorch_tanh: GELU's tanh approximation.
        return torch.nn.functional.gelu(x, approximate="tanh")

    @torch.no_grad()
    def forward(self, tokens):
        """Logits [len(tokens), vocab] for every position, causal."""
        c = self.cfg
        n = len(tokens)
        x = self.embed(torch.tensor(tokens, dtype=torch.int64))
        rope = {t: self.rope_for(t, n) for t in LAYER_TYPES}
        for l in range(c.num_layers):
            p = f"model.layers.{l}."
            kind = c.layer_types[l]
            window = c.sliding_window if kind == "sliding_attention" and self.brk != "window" else None
            cos, sin = rope[kind]
            a = self.attention(self.rmsnorm(x, p + "input_layernorm.weight"), l, cos, sin, window)
            x = x + self.rmsnorm(a, p + "post_attention_layernorm.weight")
            m = self.mlp(self.rmsnorm(x, p + "pre_feedforward_layernorm.weight"), l)
            x = x + self.rmsnorm(m, p + "post_feedforward_layernorm.weight")
        x = self.rmsnorm(x, "model.norm.weight")
        logits = self.linear(x, "model.embed_tokens.weight" if c.tie else "lm_head.weight")
        if c.final_softcap is not None:
            logits = torch.tanh(logits / c.final_softcap) * c.final_softcap
        return logits

    def logits_for(self, prompt):
        """The logits function for prompt and its generation: the forward."""
        return self.forward


if __name__ == "__main__":
    sys.exit(main(Gemma3, "gemma3_ref", "f32 PyTorch reference for Gemma3ForCausalLM"))
