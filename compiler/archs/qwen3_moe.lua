-- Qwen3 mixture-of-experts models (Hugging Face Qwen3MoeForCausalLM):
-- Qwen3's attention, and in the sparse layers a routed MLP.
--
--   tokens -> embed_tokens
--   per layer:  x += o_proj(attention(rope(q_norm(q_proj(h))), rope(k_norm(k_proj(h))), v_proj(h)))
--     sparse:   route = top_k(softmax(gate(h2)))            (renormalized when norm_topk_prob)
--               x += sum over the chosen e of weight_e * down_e(silu(gate_e(h2)) * up_e(h2))
--     dense:    x += down_proj(silu(gate_proj(h2)) * up_proj(h2))
--     where h = input_layernorm(x), h2 = post_attention_layernorm(x)
--   logits = lm_head(norm(x))   (lm_head is embed_tokens when tied)
--
-- A layer is sparse when it is not in mlp_only_layers and (l + 1) is a
-- multiple of decoder_sparse_step, as transformers' Qwen3MoeDecoderLayer
-- decides.

local function is_sparse(c, l)
  for _, d in ipairs(c.dense_layers) do
    if d == l then return false end
  end
  return c.num_experts > 0 and (l + 1) % c.sparse_step == 0
end

return arch "qwen3_moe" {
  params = {
    vocab_size = int,
    context_length = int,
    embedding_dim = int,
    num_heads = int,
    num_kv_heads = int,
    head_dim = int { default = function(c) return c.embedding_dim // c.num_heads end },
    num_layers = int,
    hidden_dim = int,            -- the dense layers' MLP width (intermediate_size)
    num_experts = int,
    experts_per_token = int,
    expert_hidden_dim = int,     -- each expert's MLP width (moe_intermediate_size)
    norm_topk_prob = bool,
    sparse_step = int { default = 1 },
    dense_layers = ints { default = {} },
    rope_base = float,
    epsilon = float { default = 1.0e-6 },
    tie_embeddings = bool,
  },

  check = function(c, require)
    for _, k in ipairs({ "vocab_size", "context_length", "embedding_dim", "num_heads", "num_kv_heads",
                         "head_dim", "num_layers", "hidden_dim", "num_experts", "experts_per_token",
                         "expert_hidden_dim", "sparse_step" }) do
      require(c[k] > 0, k, ("%s must be positive, found %d"):format(k, c[k]))
    end
    require(c.num_heads % c.num_kv_heads == 0, "num_kv_heads",
      ("num_heads (%d) must be a multiple of num_kv_heads (%d)"):format(c.num_heads, c.num_kv_heads))
    require(c.head_dim % 2 == 0, "head_dim", ("head_dim must be even for RoPE, found %d"):format(c.head_dim))
    require(c.experts_per_token <= c.num_experts, "experts_per_token",
      ("experts_per_token (%d) must not exceed num_experts (%d)"):format(c.experts_per_token, c.num_experts))
    for _, l in ipairs(c.dense_layers) do
      require(l < c.num_layers, "dense_layers",
        ("dense_layers names layer %d; the model has layers 0 to %d"):format(l, c.num_layers - 1))
    end
    require(c.epsilon > 0, "epsilon", "epsilon must be positive")
    require(c.rope_base > 0, "rope_base", "rope_base must be positive")
  end,

  -- lmcc import: our config from a Hugging Face config.json, in file order.
  hf_model_type = "qwen3_moe",
  import = function(hf)
    local heads = hf.num_attention_heads
    return {
      { "vocab_size", hf.vocab_size },
      { "context_length", hf.max_position_embeddings },
      { "embedding_dim", hf.hidden_size },
      { "num_heads", heads },
      { "num_kv_heads", hf.num_key_value_heads or heads },
      { "head_dim", hf.head_dim or (hf.hidden_size and heads and hf.hidden_size // heads) },
      { "num_layers", hf.num_hidden_layers },
      { "hidden_dim", hf.intermediate_size },
      { "num_experts", hf.num_experts },
      { "experts_per_token", hf.num_experts_per_tok },
      { "expert_hidden_dim", hf.moe_intermediate_size },
      -- transformers' Qwen3MoeConfig defaults: norm_topk_prob false,
      -- decoder_sparse_step 1, mlp_only_layers [].
      { "norm_topk_prob", hf.norm_topk_prob or false },
      { "sparse_step", hf.decoder_sparse_step or 1 },
      { "dense_layers", hf.mlp_only_layers or {} },
      { "rope_base", hf.rope_theta or 10000.0 },
      { "epsilon", hf.rms_norm_eps or 1.0e-6 },
      { "tie_embeddings", hf.tie_word_embeddings or false },
    }
  end,

  -- config.json as Hugging Face writes it; `compare` fields are checked
  -- against a checkpoint's config.json at load time.
  hf_config = function(c)
    return {
      model_type = "qwen3_moe",
      architectures = { "Qwen3MoeForCausalLM" },
      fields = {
        { "vocab_size", c.vocab_size, compare = true },
        { "max_position_embeddings", c.context_length, compare = true },
        { "hidden_size", c.embedding_dim, compare = true },
        { "num_attention_heads", c.num_heads, compare = true },
        { "num_key_value_heads", c.num_kv_heads, compare = true },
        { "head_dim", c.head_dim, compare = true },
        { "num_hidden_layers", c.num_layers, compare = true },
        { "intermediate_size", c.hidden_dim, compare = true },
        { "num_experts", c.num_experts, compare = true },
        { "num_experts_per_tok", c.experts_per_token, compare = true },
        { "moe_intermediate_size", c.expert_hidden_dim, compare = true },
        -- Absent, these take transformers' defaults (false, 1, []).
        { "norm_topk_prob", c.norm_topk_prob, compare = true, has_default = not c.norm_topk_prob },
        { "decoder_sparse_step", c.sparse_step, compare = true, has_default = c.sparse_step == 1 },
        { "mlp_only_layers", c.dense_layers, compare = true, has_default = #c.dense_layers == 0 },
        { "rope_theta", c.rope_base, compare = true },
        { "rms_norm_eps", c.epsilon, compare = true },
        { "tie_word_embeddings", c.tie_embeddings, compare = true },
        { "hidden_act", "silu" },
        { "attention_bias", false },
        { "torch_dtype", c.dtype == "f32" and "float32" or "bfloat16" },
        { "bos_token_id", 151643 },
        { "eos_token_id", 151645 },
      },
    }
  end,

  forward = function(g, c)
    local x = g:embedding("model.embed_tokens.weight", c.vocab_size, c.embedding_dim)
    for l = 0, c.num_layers - 1 do
      local p = ("model.layers.%d."):format(l)

      local h = g:rmsnorm(x, p .. "input_layernorm.weight", c.epsilon)
      local q = g:linear(h, p .. "self_attn.q_proj.weight", c.num_heads * c.head_dim)
      local k = g:linear(h, p .. "self_attn.k_proj.weight", c.num_kv_heads * c.head_dim)
      local v = g:linear(h, p .. "self_attn.v_proj.weight", c.num_kv_heads * c.head_dim)
      q = g:head_rmsnorm(q, p .. "self_attn.q_norm.weight", c.head_dim, c.epsilon)
      k = g:head_rmsnorm(k, p .. "self_attn.k_norm.weight", c.head_dim, c.epsilon)
      q = g:rope(q, c.head_dim, c.rope_base)
      k = g:rope(k, c.head_dim, c.rope_base)
      local a = g:attention(q, k, v, { heads = c.num_heads, kv_heads = c.num_kv_heads,
                                       head_dim = c.head_dim }, p .. "self_attn")
      x = g:add(x, g:linear(a, p .. "self_attn.o_proj.weight", c.embedding_dim))

      local h2 = g:rmsnorm(x, p .. "post_attention_layernorm.weight", c.epsilon)
      if is_sparse(c, l) then
        -- The router keeps its weights' precision in quantized builds, as
        -- llama.cpp keeps ffn_gate_inp: a flipped choice costs a whole expert.
        local scores = g:linear(h2, p .. "mlp.gate.weight", c.num_experts, { precise = true })
        local route = g:router(scores, c.experts_per_token, { renormalize = c.norm_topk_prob })
        x = g:add(x, g:experts(h2, route, p .. "mlp.experts", c.num_experts, c.expert_hidden_dim))
      else
        local gate = g:linear(h2, p .. "mlp.gate_proj.weight", c.hidden_dim)
        local up = g:linear(h2, p .. "mlp.up_proj.weight", c.hidden_dim)
        x = g:add(x, g:linear(g:swiglu(gate, up), p .. "mlp.down_proj.weight", c.embedding_dim))
      end
    end
    local head = c.tie_embeddings and "model.embed_tokens.weight" or "lm_head.weight"
    return g:logits(g:linear(g:rmsnorm(x, "model.norm.weight", c.epsilon), head, c.vocab_size))
  end,
}
