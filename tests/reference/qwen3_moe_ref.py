#!/usr/bin/python3
"""Independent f32 reference for Hugging Face transformers' Qwen3MoeForCausalLM
(model_type qwen3_moe: Qwen3-30B-A3B, Qwen3-235B-A22B, Qwen3-Coder-30B-A3B).

Written from the transformers semantics (modeling_qwen3_moe.py, eager
attention), not from lmcc's C code, so the golden tests compare two
implementations. Attention is Qwen3's (qwen3_ref.Qwen3: QK RMSNorm per head,
rotate-half RoPE, GQA, no biases); only the MLP of some layers differs:

  embed -> per layer:
      h = x + o_proj(attn(rope(q_norm(q)), rope(k_norm(k)), v))   with RMSNorm first
      x = h + mlp_l(n),  n = post_attention_layernorm(h)
  -> model.norm -> lm_head (or embed_tokens when tie_word_embeddings)

Layer l is sparse when l is not in mlp_only_layers, num_experts > 0 and
(l + 1) % decoder_sparse_step == 0; there mlp_l is the sparse MoE block
(tensors mlp.gate.weight [num_experts, hidden] and, per expert e,
mlp.experts.{e}.gate_proj/up_proj.weight [moe_intermediate_size, hidden] and
mlp.experts.{e}.down_proj.weight [hidden, moe_intermediate_size]):

  p = softmax(gate(n)) over all experts, in f32
  w, e = topk(p, num_experts_per_tok)       (sorted, largest first)
  w = w / sum(w)                             only when norm_topk_prob
  mlp_l(n) = sum_j w_j * down_ej(silu(gate_ej(n)) * up_ej(n))

accumulated expert by expert in increasing expert index, as transformers'
loop over the experts adds them. Every other layer has Qwen3's dense MLP of
width intermediate_size (mlp.gate_proj/up_proj/down_proj.weight). Experts'
tensors are expected only in sparse layers, the dense MLP's only in dense
ones.

config.json fields beyond Qwen3's, with Qwen3MoeConfig's defaults:
num_experts 128, num_experts_per_tok 8, moe_intermediate_size 768,
decoder_sparse_step 1, mlp_only_layers [] (null means []), norm_topk_prob
false (the class default, although the released Qwen3 MoE checkpoints all set
it true).

Numerics: activations stay f32, as in the other references and in the
compiled model. transformers casts the routing weights (and the router
logits, and every activation) to the hidden dtype, which for a bf16
checkpoint rounds them to bf16; here the router's logits, softmax, top-k,
renormalization and weights are all f32. Every linear (router and experts
included) goes through common.linear, so --matmul-input bf16 and
--int8-inputs round its input as they round any other linear's.

Ties in top-k: torch.topk on CPU (observed with torch 1.13, any thread
count) breaks exact ties deterministically but NOT by index order; which
of the equal values it keeps is an artefact of its selection algorithm:
  topk([0.1, 0.3, 0.3, 0.3], 2) -> [2, 3];  topk([0.3, 0.3, 0.1, 0.3], 2) -> [1, 3]
  topk([0.3, 0.3, 0.1, 0.1], 2) -> [1, 0];  topk([0.5, 0.3, 0.3, 0.1], 2) -> [0, 1]
  8 equal values:   k=2 -> [6, 5],   k=8 -> [4, 7, 6, 5, 2, 1, 0, 3],  k=1 -> [6]
  128 equal values: k=2 -> [0, 1],   k=8 -> [84, 87, 86, 85, 82, 81, 88, 83]
Routing probabilities computed from real logits are practically never
exactly equal, so this only matters for contrived weights (all-zero router
rows, say); a golden test must not depend on it.

QWEN3_MOE_REF_BREAK deliberately breaks one routing rule, to prove that the
golden tests fail when the compiled model gets it wrong (never set it
otherwise; the reference says so on stderr when it is set):
  renorm        renormalize the top-k weights when norm_topk_prob is false,
                and leave them when it is true
  dense_layers  ignore mlp_only_layers and decoder_sparse_step: every layer
                is sparse, and a checkpoint without experts' tensors in some
                layer fails to load, naming the tensor
  topk          route each token to the top num_experts_per_tok - 1 experts
                (needs num_experts_per_tok >= 2)

Usage (common.main): qwen3_moe_ref.py CKPT --tokens 1,2,3 [--logits OUT.npy] [-n N]
"""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import check_shapes, load_checkpoint, main  # noqa: E402
from qwen3_ref import Config as Qwen3Config, Qwen3  # noqa: E402
from safetensors_np import CheckpointError  # noqa: E402

BREAKS = ("renorm", "dense_layers", "topk")


def break_mode():
    """QWEN3_MOE_REF_BREAK's value ("" when unset), checked."""
    mode = os.environ.get("QWEN3_MOE_REF_BREAK", "")
    if mode and mode not in BREAKS:
        raise ValueError(f"QWEN3_MOE_REF_BREAK={mode!r}: expected one of {', '.join(BREAKS)}")
    return mode


class Config(Qwen3Config):
    """The config.json fields Qwen3-MoE uses, with transformers' defaults."""

    def __init__(self, d):
        super().__init__(d)
        self.num_experts = int(d.get("num_experts", 128))
        self.top_k = int(d.get("num_experts_per_tok", 8))
        self.moe_intermediate_size = int(d.get("moe_intermediate_size", 768))
        self.decoder_sparse_step = int(d.get("decoder_sparse_step", 1))
        self.mlp_only_layers = [int(l) for l in (d.get("mlp_only_layers") or [])]
        self.norm_topk_prob = bool(d.get("norm_topk_prob", False))
        if d.get("use_sliding_window", False):
            raise ValueError("use_sliding_window is not supported by this reference")
        if self.decoder_sparse_step < 1:
            raise ValueError("decoder_sparse_step must be >= 1")
        if self.num_experts < 0:
            raise ValueError("num_experts must be >= 0")
        if self.num_experts > 0 and not 1 <= self.top_k <= self.num_experts:
            raise ValueError("num_experts_per_tok must be in [1, num_experts]")

    def is_sparse(self, l):
        """Whether layer l has the sparse MoE block (Qwen3MoeDecoderLayer's rule)."""
        return (l not in self.mlp_only_layers and self.num_experts > 0
                and (l + 1) % self.decoder_sparse_step == 0)


class Qwen3Moe(Qwen3):
    def __init__(self, ckpt_dir):
        self.brk = break_mode()
        if self.brk:
            print(f"qwen3_moe_ref: QWEN3_MOE_REF_BREAK={self.brk}: routing deliberately broken",
                  file=sys.stderr)
        self.cfg, self.w = load_checkpoint(ckpt_dir, Config)
        c = self.cfg
        if self.brk == "dense_layers":
            if c.num_experts <= 0:
                raise ValueError("QWEN3_MOE_REF_BREAK=dense_layers needs num_experts > 0")
            self.sparse = [True] * c.num_layers
        else:
            self.sparse = [c.is_sparse(l) for l in range(c.num_layers)]
        self.top_k = c.top_k
        if self.brk == "topk":
            if c.top_k < 2:
                raise ValueError("QWEN3_MOE_REF_BREAK=topk needs num_experts_per_tok >= 2")
            self.top_k = c.top_k - 1
        self.renorm = c.norm_topk_prob != (self.brk == "renorm")
        try:
            check_shapes(self.w, self._expected_shapes())
        except CheckpointError as exc:
            if self.brk == "dense_layers":
                raise CheckpointError(f"QWEN3_MOE_REF_BREAK=dense_layers treats every layer as sparse: {exc}")
            raise

    def _expected_shapes(self):
        c = self.cfg
        D, E, Fe = c.hidden_size, c.num_experts, c.moe_intermediate_size
        want = super()._expected_shapes()
        for l in range(c.num_layers):
            if not self.sparse[l]:
                continue
            p = f"model.layers.{l}.mlp."
            for name in ("gate_proj", "up_proj", "down_proj"):
                del want[p + name + ".weight"]
            want[p + "gate.weight"] = (E, D)
            for e in range(E):
                q = f"{p}experts.{e}."
                want.update({
                    q + "gate_proj.weight": (Fe, D),
                    q + "up_proj.weight": (Fe, D),
                    q + "down_proj.weight": (D, Fe),
                })
        return want

    # --- the sparse MoE block, as Qwen3MoeSparseMoeBlock computes it ----------

    def route(self, x, l):
        """(weights [n, k] f32, experts [n, k] int64) for the tokens x [n, D]
        of sparse layer l: softmax over all experts, top-k largest first,
        renormalized to sum 1 when norm_topk_prob."""
        logits = self.linear(x, f"model.layers.{l}.mlp.gate.weight")        # [n, E]
        probs = torch.softmax(logits, dim=-1, dtype=torch.float32)
        weights, experts = torch.topk(probs, self.top_k, dim=-1, largest=True, sorted=True)
        if self.renorm:
            weights = weights / weights.sum(dim=-1, keepdim=True)
        return weights, experts

    def expert(self, x, l, e):
        q = f"model.layers.{l}.mlp.experts.{e}."
        gate = torch.nn.functional.silu(self.linear(x, q + "gate_proj.weight"))
        return self.linear(gate * self.linear(x, q + "up_proj.weight"), q + "down_proj.weight")

    def moe(self, x, l):
        weights, experts = self.route(x, l)
        out = torch.zeros_like(x)
        for e in range(self.cfg.num_experts):
            tok, slot = torch.nonzero(experts == e, as_tuple=True)   # the tokens routed to e
            if tok.numel() == 0:
                continue
            y = self.expert(x[tok], l, e) * weights[tok, slot, None]
            out.index_add_(0, tok, y)
        return out

    def mlp(self, x, l):
        return self.moe(x, l) if self.sparse[l] else super().mlp(x, l)


if __name__ == "__main__":
    sys.exit(main(Qwen3Moe, "qwen3_moe_ref", "f32 PyTorch reference for Qwen3MoeForCausalLM"))
