#!/usr/bin/python3
"""Independent f32 reference for Hugging Face transformers' Qwen3ForCausalLM.

Written from the transformers semantics (modeling_qwen3.py, eager attention),
not from lmcc's C code, so the golden tests compare two implementations:

  embed -> per layer:
      h = x + o_proj(attn(rope(q_norm(q)), rope(k_norm(k)), v))   with RMSNorm first
      x = h + down(silu(gate(n)) * up(n)),  n = post_attention_layernorm(h)
  -> model.norm -> lm_head (or embed_tokens when tie_word_embeddings)

Usage (common.main): qwen3_ref.py CKPT --tokens 1,2,3 [--logits OUT.npy] [-n N]
"""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (BaseConfig, check_shapes, gqa_attention, linear, load_checkpoint,  # noqa: E402
                    main, rms_norm, rope_cos_sin, rotate_half)


class Config(BaseConfig):
    """The config.json fields Qwen3 uses, with transformers' defaults."""

    def __init__(self, d):
        super().__init__(d)
        self.num_kv_heads = int(d.get("num_key_value_heads") or self.num_heads)
        self.head_dim = int(d.get("head_dim") or self.hidden_size // self.num_heads)
        self.eps = float(d.get("rms_norm_eps", 1e-6))
        self.rope_theta = float(d.get("rope_theta", 10000.0))
        self.tie = bool(d.get("tie_word_embeddings", False))
        self.max_pos = int(d.get("max_position_embeddings", 32768))
        if d.get("rope_scaling"):
            raise ValueError("rope_scaling is not supported by this reference")
        if d.get("hidden_act", "silu") != "silu":
            raise ValueError(f"hidden_act {d['hidden_act']} is not supported by this reference")
        if d.get("attention_bias", False):
            raise ValueError("attention_bias is not supported by this reference")
        if self.num_heads % self.num_kv_heads:
            raise ValueError("num_attention_heads must be a multiple of num_key_value_heads")


class Qwen3:
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
            want.update({
                p + "input_layernorm.weight": (D,),
                p + "post_attention_layernorm.weight": (D,),
                p + "self_attn.q_proj.weight": (c.num_heads * hd, D),
                p + "self_attn.k_proj.weight": (c.num_kv_heads * hd, D),
                p + "self_attn.v_proj.weight": (c.num_kv_heads * hd, D),
                p + "self_attn.o_proj.weight": (D, c.num_heads * hd),
                p + "self_attn.q_norm.weight": (hd,),
                p + "self_attn.k_norm.weight": (hd,),
                p + "mlp.gate_proj.weight": (F, D),
                p + "mlp.up_proj.weight": (F, D),
                p + "mlp.down_proj.weight": (D, F),
            })
        return want

    # --- building blocks, each as transformers computes it --------------------

    def rmsnorm(self, x, name):
        # Qwen3RMSNorm: variance in f32, x * rsqrt(var + eps), then * weight.
        return rms_norm(x, self.w[name], self.cfg.eps)

    def linear(self, x, name):
        return linear(x, self.w[name])

    def rope_cos_sin(self, n):
        # Qwen3RotaryEmbedding (default rope type): inv_freq in f32, angles as
        # inv_freq x position, duplicated for the two halves.
        d = self.cfg.head_dim
        inv_freq = 1.0 / (self.cfg.rope_theta ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))
        return rope_cos_sin(inv_freq, n)

    def score_scale(self):
        # Scores are q k^T / sqrt(head_dim).
        return self.cfg.head_dim ** -0.5

    def attention(self, x, l, cos, sin, window=None):
        """Layer l's attention of x (already normed); window as in
        common.causal_attend (Qwen3 itself has none)."""
        c = self.cfg
        n, hd = x.shape[0], c.head_dim
        p = f"model.layers.{l}.self_attn."
        q = self.linear(x, p + "q_proj.weight").view(n, c.num_heads, hd)
        k = self.linear(x, p + "k_proj.weight").view(n, c.num_kv_heads, hd)
        v = self.linear(x, p + "v_proj.weight").view(n, c.num_kv_heads, hd)
        q = self.rmsnorm(q, p + "q_norm.weight").transpose(0, 1)   # [H, n, hd]
        k = self.rmsnorm(k, p + "k_norm.weight").transpose(0, 1)   # [KV, n, hd]
        v = v.transpose(0, 1)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        out = gqa_attention(q, k, v, self.score_scale(), window)
        return self.linear(out, p + "o_proj.weight")

    def activation(self, x):
        return torch.nn.functional.silu(x)

    def mlp(self, x, l):
        p = f"model.layers.{l}.mlp."
        gate = self.activation(self.linear(x, p + "gate_proj.weight"))
        return self.linear(gate * self.linear(x, p + "up_proj.weight"), p + "down_proj.weight")

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
        return self.linear(x, head)

    def logits_for(self, prompt):
        """The logits function for prompt and its generation: the forward."""
        return self.forward


if __name__ == "__main__":
    sys.exit(main(Qwen3, "qwen3_ref", "f32 PyTorch reference for Qwen3ForCausalLM"))
