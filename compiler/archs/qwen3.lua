-- Qwen3 dense models (Hugging Face Qwen3ForCausalLM).
--
--   tokens -> embed_tokens
--   per layer:  x += o_proj(attention(rope(q_norm(q_proj(h))), rope(k_norm(k_proj(h))), v_proj(h)))
--               x += down_proj(silu(gate_proj(h2)) * up_proj(h2))
--     where h = input_layernorm(x), h2 = post_attention_layernorm(x)
--   logits = lm_head(norm(x))   (lm_head is embed_tokens when tied)

return arch "qwen3" {
  params = {
    vocab_size = int,
    context_length = int,
    embedding_dim = int,
    num_heads = int,
    num_kv_heads = int,
    head_dim = int { default = function(c) return c.embedding_dim // c.num_heads end },
    num_layers = int,
    hidden_dim = int,
    qk_norm = bool { default = true },
    rope_base = float,
    epsilon = float { default = 1.0e-6 },
    tie_embeddings = bool,
  },

  check = function(c, require)
    for _, k in ipairs({ "vocab_size", "context_length", "embedding_dim", "num_heads",
                         "num_kv_heads", "head_dim", "num_layers", "hidden_dim" }) do
      require(c[k] > 0, k, ("%s must be positive, found %d"):format(k, c[k]))
    end
    require(c.num_heads % c.num_kv_heads == 0, "num_kv_heads",
      ("num_heads (%d) must be a multiple of num_kv_heads (%d)"):format(c.num_heads, c.num_kv_heads))
    require(c.head_dim % 2 == 0, "head_dim", ("head_dim must be even for RoPE, found %d"):format(c.head_dim))
    require(c.epsilon > 0, "epsilon", "epsilon must be positive")
    require(c.rope_base > 0, "rope_base", "rope_base must be positive")
  end,

  -- lmcc import: our config from a Hugging Face config.json, in file order.
  hf_model_type = "qwen3",
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
      { "qk_norm", true },
      { "rope_base", hf.rope_theta or 10000.0 },
      { "epsilon", hf.rms_norm_eps or 1.0e-6 },
      { "tie_embeddings", hf.tie_word_embeddings or false },
    }
  end,

  -- config.json as Hugging Face writes it; `compare` fields are checked
  -- against a checkpoint's config.json at load time.
  hf_config = function(c)
    return {
      model_type = "qwen3",
      architectures = { "Qwen3ForCausalLM" },
      fields = {
        { "vocab_size", c.vocab_size, compare = true },
        { "max_position_embeddings", c.context_length, compare = true },
        { "hidden_size", c.embedding_dim, compare = true },
        { "num_attention_heads", c.num_heads, compare = true },
        { "num_key_value_heads", c.num_kv_heads, compare = true },
        { "head_dim", c.head_dim, compare = true },
        { "num_hidden_layers", c.num_layers, compare = true },
        { "intermediate_size", c.hidden_dim, compare = true },
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
      if c.qk_norm then
        q = g:head_rmsnorm(q, p .. "self_attn.q_norm.weight", c.head_dim, c.epsilon)
        k = g:head_rmsnorm(k, p .. "self_attn.k_norm.weight", c.head_dim, c.epsilon)
      end
      q = g:rope(q, c.head_dim, c.rope_base)
      k = g:rope(k, c.head_dim, c.rope_base)
      local a = g:attention(q, k, v, { heads = c.num_heads, kv_heads = c.num_kv_heads,
                                       head_dim = c.head_dim }, p .. "self_attn")
      x = g:add(x, g:linear(a, p .. "self_attn.o_proj.weight", c.embedding_dim))

      local h2 = g:rmsnorm(x, p .. "post_attention_layernorm.weight", c.epsilon)
      local gate = g:linear(h2, p .. "mlp.gate_proj.weight", c.hidden_dim)
      local up = g:linear(h2, p .. "mlp.up_proj.weight", c.hidden_dim)
      x = g:add(x, g:linear(g:swiglu(gate, up), p .. "mlp.down_proj.weight", c.embedding_dim))
    end
    local head = c.tie_embeddings and "model.embed_tokens.weight" or "lm_head.weight"
    return g:logits(g:linear(g:rmsnorm(x, "model.norm.weight", c.epsilon), head, c.vocab_size))
  end,
}
