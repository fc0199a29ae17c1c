#!/usr/bin/python3
"""Independent f32 reference for the original Qwen (QWenLMHeadModel, model_type qwen).

Written from the semantics of Qwen's own modeling_qwen.py (the remote code
the hub serves with Qwen-7B and friends), not from lmcc's C code:

  x = wte[tokens]
  per layer:
      q, k, v = split(c_attn(ln_1(x)))          one [3P, E] weight + [3P] bias
      q, k = rotary(q), rotary(k)               first rotary_pct*head_dim dims, rotate-half
      q *= logn(position)                       use_logn_attn: log(p+1)/log(seq_length) past seq_length
      x += c_proj(softmax(q k^T / sqrt(head_dim), causal) v)
      x += mlp.c_proj(w1(h) * silu(w2(h))),  h = ln_2(x)
  logits = lm_head(ln_f(x))

Dynamic NTK (use_dynamic_ntk): Qwen picks alpha from the length of the first
forward call of a generation (the prompt), raises the RoPE base to
base * alpha^(d/(d-2)), and reuses that alpha for every generated token
(_ntk_alpha_cached_list). This reference recomputes the whole sequence each
step, so it fixes alpha once from the prompt length and keeps it.

Usage (common.main): qwen1_ref.py CKPT --tokens 1,2,3 [--logits OUT.npy] [-n N]
"""

import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (BaseConfig, causal_attend, check_shapes, kv_round, linear, query_round,  # noqa: E402
                    load_checkpoint, main, rms_norm, rotate_half)


class Config(BaseConfig):
    """The config.json fields QWenLMHeadModel uses, with QWenConfig's defaults."""

    def __init__(self, d):
        super().__init__(d)
        self.head_dim = int(d.get("kv_channels") or self.hidden_size // self.num_heads)
        self.seq_length = int(d.get("seq_length", 2048))
        self.max_pos = int(d.get("max_position_embeddings", 8192))
        self.eps = float(d.get("layer_norm_epsilon", 1e-6))
        self.rope_base = float(d.get("rotary_emb_base", 10000))
        self.rotary_pct = float(d.get("rotary_pct", 1.0))
        self.use_logn_attn = bool(d.get("use_logn_attn", True))
        self.use_dynamic_ntk = bool(d.get("use_dynamic_ntk", True))
        self.tie = bool(d.get("tie_word_embeddings", False))
        if not d.get("no_bias", True):
            raise ValueError("no_bias: false (biases on c_proj and the MLP) is not supported by this reference")
        if self.intermediate_size % 2:
            raise ValueError("intermediate_size must be even: w1 and w2 are each intermediate_size/2 wide")
        # Qwen: rotary_pct == 1 rotates the whole head, else int(kv_channels * pct) dims.
        self.rot_dim = self.head_dim if self.rotary_pct == 1.0 else int(self.head_dim * self.rotary_pct)
        if self.rot_dim < 2 or self.rot_dim % 2:
            raise ValueError(f"rotary dims {self.rot_dim} must be even and >= 2")


class Qwen1:
    def __init__(self, ckpt_dir):
        self.cfg, self.w = load_checkpoint(ckpt_dir, Config)
        check_shapes(self.w, self._expected_shapes())

    def _expected_shapes(self):
        c = self.cfg
        E, V, P, F2 = c.hidden_size, c.vocab_size, c.num_heads * c.head_dim, c.intermediate_size // 2
        want = {"transformer.wte.weight": (V, E), "transformer.ln_f.weight": (E,)}
        if not c.tie:
            want["lm_head.weight"] = (V, E)
        for l in range(c.num_layers):
            p = f"transformer.h.{l}."
            want.update({
                p + "ln_1.weight": (E,),
                p + "attn.c_attn.weight": (3 * P, E),
                p + "attn.c_attn.bias": (3 * P,),
                p + "attn.c_proj.weight": (E, P),
                p + "ln_2.weight": (E,),
                p + "mlp.w1.weight": (F2, E),
                p + "mlp.w2.weight": (F2, E),
                p + "mlp.c_proj.weight": (E, F2),
            })
        return want

    # --- building blocks, each as modeling_qwen.py computes it ----------------

    def rmsnorm(self, x, name):
        # Qwen's RMSNorm: x * rsqrt(mean(x^2) + eps) in f32, then * weight.
        return rms_norm(x, self.w[name], self.cfg.eps)

    def linear(self, x, name, bias=None):
        return linear(x, self.w[name], None if bias is None else self.w[bias])

    def ntk_alpha(self, true_seq_len):
        # QWenModel.get_ntk_alpha: the next power of two of len/seq_length, minus one.
        context_value = math.log(true_seq_len / self.cfg.seq_length, 2) + 1
        return max(2 ** math.ceil(context_value) - 1, 1)

    def rope_cos_sin(self, n, alpha):
        # Qwen's RotaryEmbedding: base raised by alpha^(d/(d-2)), inv_freq in
        # f32, angles position x inv_freq, duplicated for the two halves.
        d = self.cfg.rot_dim
        base = self.cfg.rope_base * alpha ** (d / (d - 2))
        inv_freq = 1.0 / (base ** (torch.arange(0, d, 2).float() / d))
        pos = torch.arange(n, dtype=torch.float32)
        freqs = torch.outer(pos, inv_freq)                # [n, d/2]
        emb = torch.cat((freqs, freqs), dim=-1)           # [n, d]
        return emb.cos(), emb.sin()

    def apply_rotary(self, t, cos, sin):
        # t: [n, H, hd]; only the first rot_dim dims of each head rotate.
        d = self.cfg.rot_dim
        rot, keep = t[..., :d], t[..., d:]
        rot = rot * cos[:, None, :] + rotate_half(rot) * sin[:, None, :]
        return torch.cat((rot, keep), dim=-1)

    def logn_scale(self, n):
        # logn_tensor[i - 1] = log_seq_length(i) for i > seq_length, else 1;
        # position p uses i = p + 1.
        s = self.cfg.seq_length
        return torch.tensor([math.log(p + 1, s) if p + 1 > s else 1.0 for p in range(n)], dtype=torch.float32)

    def attention(self, x, l, cos, sin, logn):
        c = self.cfg
        n, H, hd = x.shape[0], c.num_heads, c.head_dim
        P = H * hd
        p = f"transformer.h.{l}.attn."
        mixed = self.linear(x, p + "c_attn.weight", p + "c_attn.bias")   # [n, 3P]
        q, k, v = mixed.split(P, dim=-1)
        q, k, v = q.reshape(n, H, hd), k.reshape(n, H, hd), v.reshape(n, H, hd)
        q = self.apply_rotary(q, cos, sin)
        k = self.apply_rotary(k, cos, sin)
        k, v = kv_round(k), kv_round(v)   # as the KV cache keeps them
        q = query_round(q)                # as attention multiplies it
        if logn is not None:
            q = q * logn[:, None, None]
        q, k, v = q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)   # [H, n, hd]
        scores = torch.matmul(q, k.transpose(1, 2)) / math.sqrt(hd)         # [H, n, n]
        out = causal_attend(scores, v).transpose(0, 1).reshape(n, P)
        return self.linear(out, p + "c_proj.weight")

    def mlp(self, x, l):
        p = f"transformer.h.{l}.mlp."
        a1 = self.linear(x, p + "w1.weight")
        a2 = self.linear(x, p + "w2.weight")
        return self.linear(a1 * torch.nn.functional.silu(a2), p + "c_proj.weight")

    @torch.no_grad()
    def forward(self, tokens, alpha):
        """Logits [len(tokens), vocab] for every position, causal, with the
        NTK alpha given (fixed per generation, from the prompt)."""
        c = self.cfg
        n = len(tokens)
        if n > c.max_pos:
            raise ValueError(f"{n} tokens exceed max_position_embeddings {c.max_pos}")
        ids = torch.tensor(tokens, dtype=torch.int64)
        x = self.w["transformer.wte.weight"][ids]
        cos, sin = self.rope_cos_sin(n, alpha)
        logn = self.logn_scale(n) if c.use_logn_attn else None
        for l in range(c.num_layers):
            p = f"transformer.h.{l}."
            x = x + self.attention(self.rmsnorm(x, p + "ln_1.weight"), l, cos, sin, logn)
            x = x + self.mlp(self.rmsnorm(x, p + "ln_2.weight"), l)
        x = self.rmsnorm(x, "transformer.ln_f.weight")
        head = "transformer.wte.weight" if c.tie else "lm_head.weight"
        return self.linear(x, head)

    def prompt_alpha(self, prompt_len):
        return self.ntk_alpha(prompt_len) if self.cfg.use_dynamic_ntk else 1.0

    def logits_for(self, prompt):
        """The logits function for prompt and its generation: the forward
        with the prompt's NTK alpha, kept for every generated id."""
        alpha = self.prompt_alpha(len(prompt))
        return lambda tokens: self.forward(tokens, alpha)


if __name__ == "__main__":
    sys.exit(main(Qwen1, "qwen1_ref", "f32 PyTorch reference for Qwen (QWenLMHeadModel)"))
