#!/usr/bin/python3
"""Independent f32 reference for Hugging Face transformers' LlamaForCausalLM
(Llama 3.x).

Written from the transformers semantics (modeling_llama.py, eager attention,
modeling_rope_utils.py for rope_scaling), not from lmcc's C code:

  embed -> per layer:
      h = x + o_proj(attn(rope(q_proj(n)), rope(k_proj(n)), v_proj(n))),  n = input_layernorm(x)
      x = h + down(silu(gate(m)) * up(m)),  m = post_attention_layernorm(h)
  -> model.norm -> lm_head (or embed_tokens when tie_word_embeddings)

attention_bias adds biases to q, k, v and o_proj; mlp_bias to gate, up and
down. head_dim may differ from hidden_size / num_attention_heads.
rope_scaling: none, "linear" (inv_freq / factor) or "llama3".

Usage (common.main): llama_ref.py CKPT --tokens 1,2,3 [--logits OUT.npy] [-n N]
Set LLAMA_REF_NO_SCALING=1 to ignore rope_scaling (to show a test needs it).
"""

import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (BaseConfig, check_shapes, gqa_attention, linear, load_checkpoint,  # noqa: E402
                    main, rms_norm, rope_cos_sin, rotate_half)


class Config(BaseConfig):
    """The config.json fields Llama uses, with transformers' defaults."""

    def __init__(self, d):
        super().__init__(d)
        self.num_kv_heads = int(d.get("num_key_value_heads") or self.num_heads)
        self.head_dim = int(d.get("head_dim") or self.hidden_size // self.num_heads)
        self.eps = float(d.get("rms_norm_eps", 1e-6))
        self.rope_theta = float(d.get("rope_theta", 10000.0))
        self.tie = bool(d.get("tie_word_embeddings", False))
        self.attention_bias = bool(d.get("attention_bias", False))
        self.mlp_bias = bool(d.get("mlp_bias", False))
        self.rope_scaling = d.get("rope_scaling")
        if os.environ.get("LLAMA_REF_NO_SCALING") == "1":
            self.rope_scaling = None
        if self.rope_scaling:
            kind = self.rope_scaling.get("rope_type", self.rope_scaling.get("type"))
            if kind not in ("linear", "llama3", "default"):
                raise ValueError(f"rope_scaling type {kind} is not supported by this reference")
        if d.get("hidden_act", "silu") != "silu":
            raise ValueError(f"hidden_act {d['hidden_act']} is not supported by this reference")
        if self.num_heads % self.num_kv_heads:
            raise ValueError("num_attention_heads must be a multiple of num_key_value_heads")


class Llama:
    def __init__(self, ckpt_dir):
        self.cfg, self.w = load_checkpoint(ckpt_dir, Config)
        check_shapes(self.w, self._expected_shapes())

    def _expected_shapes(self):
        c = self.cfg
        D, F, V, hd = c.hidden_size, c.intermediate_size, c.vocab_size, c.head_dim
        want = {"model.embed_tokens.weight": (V, D), "model.norm.weight": (D,)}
        if not c.tie:
            want["lm_head.weight"] = (V, D)
        for l in range(c.num_layers):
            p = f"model.layers.{l}."
            shapes = {
                "self_attn.q_proj": (c.num_heads * hd, D), "self_attn.k_proj": (c.num_kv_heads * hd, D),
                "self_attn.v_proj": (c.num_kv_heads * hd, D), "self_attn.o_proj": (D, c.num_heads * hd),
                "mlp.gate_proj": (F, D), "mlp.up_proj": (F, D), "mlp.down_proj": (D, F),
            }
            want[p + "input_layernorm.weight"] = (D,)
            want[p + "post_attention_layernorm.weight"] = (D,)
            for name, shape in shapes.items():
                want[p + name + ".weight"] = shape
                if (c.attention_bias and name.startswith("self_attn")) or (c.mlp_bias and name.startswith("mlp")):
                    want[p + name + ".bias"] = (shape[0],)
        return want

    def rmsnorm(self, x, name):
        # LlamaRMSNorm: variance in f32, x * rsqrt(var + eps), then * weight.
        return rms_norm(x, self.w[name], self.cfg.eps)

    def linear(self, x, name, with_bias):
        b = self.w[name + ".bias"] if with_bias else None
        return linear(x, self.w[name + ".weight"], b)

    def inv_freq(self):
        # _compute_default_rope_parameters, then the rope_scaling rule, as
        # modeling_rope_utils computes them (f32 tensors, Python scalars).
        c = self.cfg
        d = c.head_dim
        inv_freq = 1.0 / (c.rope_theta ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
        rs = c.rope_scaling
        if not rs:
            return inv_freq
        kind = rs.get("rope_type", rs.get("type"))
        if kind == "default":
            return inv_freq
        factor = rs["factor"]
        if kind == "linear":
            return inv_freq / factor
        low_freq_factor = rs["low_freq_factor"]
        high_freq_factor = rs["high_freq_factor"]
        old_context_len = rs["original_max_position_embeddings"]
        low_freq_wavelen = old_context_len / low_freq_factor
        high_freq_wavelen = old_context_len / high_freq_factor
        wavelen = 2 * math.pi / inv_freq
        inv_freq_llama = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
        smooth_factor = (old_context_len / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor)
        smoothed = (1 - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
        is_medium = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
        return torch.where(is_medium, smoothed, inv_freq_llama)

    def rope_cos_sin(self, n):
        return rope_cos_sin(self.inv_freq(), n)

    def attention(self, x, l, cos, sin):
        c = self.cfg
        n, hd, ab = x.shape[0], c.head_dim, c.attention_bias
        p = f"model.layers.{l}.self_attn."
        q = self.linear(x, p + "q_proj", ab).view(n, c.num_heads, hd).transpose(0, 1)
        k = self.linear(x, p + "k_proj", ab).view(n, c.num_kv_heads, hd).transpose(0, 1)
        v = self.linear(x, p + "v_proj", ab).view(n, c.num_kv_heads, hd).transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        out = gqa_attention(q, k, v, hd ** -0.5)
        return self.linear(out, p + "o_proj", ab)

    def mlp(self, x, l):
        p, mb = f"model.layers.{l}.mlp.", self.cfg.mlp_bias
        gate = torch.nn.functional.silu(self.linear(x, p + "gate_proj", mb))
        return self.linear(gate * self.linear(x, p + "up_proj", mb), p + "down_proj", mb)

    @torch.no_grad()
    def forward(self, tokens):
        """Logits [len(tokens), vocab] for every position, causal."""
        c = self.cfg
        ids = torch.tensor(tokens, dtype=torch.int64)
        x = self.w["model.embed_tokens.weight"][ids]
        cos, sin = self.rope_cos_sin(len(tokens))
        for l in range(c.num_layers):
            p = f"model.layers.{l}."
            x = x + self.attention(self.rmsnorm(x, p + "input_layernorm.weight"), l, cos, sin)
            x = x + self.mlp(self.rmsnorm(x, p + "post_attention_layernorm.weight"), l)
        x = self.rmsnorm(x, "model.norm.weight")
        head = "model.embed_tokens.weight" if c.tie else "lm_head.weight"
        return linear(x, self.w[head])

    def logits_for(self, prompt):
        """The logits function for prompt and its generation: the forward."""
        return self.forward


if __name__ == "__main__":
    sys.exit(main(Llama, "llama_ref", "f32 PyTorch reference for LlamaForCausalLM"))
