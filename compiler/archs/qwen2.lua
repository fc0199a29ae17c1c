-- Qwen2 and Qwen2.5 (Hugging Face Qwen2ForCausalLM, model_type qwen2).
--
--   tokens -> embed_tokens
--   per layer:  x += o_proj(attention(rope(q_proj(h)), rope(k_proj(h)), v_proj(h)))
--               x += down_proj(silu(gate_proj(h2)) * up_proj(h2))
--     where h = input_layernorm(x), h2 = post_attention_layernorm(x)
--   logits = lm_head(norm(x))   (lm_head is embed_tokens when tied)
--
-- Qwen3's block without QK-norm: q, k and v have biases (o_proj and the
-- MLP have none), and head_dim is hidden_size / num_attention_heads.
-- config.json's sliding_window and max_window_layers only act when
-- use_sliding_window is true, which lmcc does not support yet.

return arch "qwen2" {
  params = {
    vocab_size = int,
    context_length = int,
    embedding_dim = int,
    num_heads = int,
    num_kv_heads = int,
    num_layers = int,
    hidden_dim = int,
    rope_base = float,
    epsilon = float { default = 1.0e-6 },
    tie_embeddings = bool,
    use_sliding_window = bool { default = false },
  },

  check = function(c, require)
    for _, k in ipairs({ "vocab_size", "context_length", "embedding_dim", "num_heads",
                         "num_kv_heads", "num_layers", "hidden_dim" }) do
      require(c[k] > 0, k, ("%s must be positive, found %d"):format(k, c[k]))
    end
    require(c.embedding_dim % c.num_heads == 0, "num_heads",
      ("embedding_dim (%d) must be a multiple of num_heads (%d): head_dim is their quotient"):format(
        c.embedding_dim, c.num_heads))
    require(c.num_heads % c.num_kv_heads == 0, "num_kv_heads",
      ("num_heads (%d) must be a multiple of num_kv_heads (%d)"):format(c.num_heads, c.num_kv_heads))
    require((c.embedding_dim // c.num_heads) % 2 == 0, "num_heads",
      ("head_dim = embedding_dim / num_heads must be even for RoPE, found %d"):format(c.embedding_dim // c.num_heads))
    require(c.epsilon > 0, "epsilon", "epsilon must be positive")
    require(c.rope_base > 0, "rope_base", "rope_base must be positive")
    require(not c.use_sliding_window, "use_sliding_window",
      "use_sliding_window: true is not supported yet (lmcc has no sliding-window attention); "
        .. "set it to false, as every published Qwen2/Qwen2.5 config does")
  end,

  -- lmcc import: our config from a Hugging Face config.json, in file order.
  hf_model_type = "qwen2",
  import = function(hf)
    local heads = hf.num_attention_heads
    return {
      { "vocab_size", hf.vocab_size },
      { "context_length", hf.max_position_embeddings },
      { "embedding_dim", hf.hidden_size },
      { "num_heads", heads },
      { "num_kv_heads", hf.num_key_value_heads or heads },
      { "num_layers", hf.num_hidden_layers },
      { "hidden_dim", hf.intermediate_size },
      { "rope_base", hf.rope_theta or 10000.0 },
      { "epsilon", hf.rms_norm_eps or 1.0e-6 },
      { "tie_embeddings", hf.tie_word_embeddings or false },
      { "use_sliding_window", hf.use_sliding_window or false },
    }
  end,

  -- config.json as Hugging Face writes it; `compare` fields are checked
  -- against a checkpoint's config.json at load time. max_position_embeddings
  -- is not compared: Qwen2.5's base and instruct repositories of one size
  -- publish different values (131072 and 32768 from 7B up) for the same
  -- weights, and without rope_scaling it changes nothing lmcc computes.
  hf_config = function(c)
    return {
      model_type = "qwen2",
      architectures = { "Qwen2ForCausalLM" },
      fields = {
        { "vocab_size", c.vocab_size, compare = true },
        { "max_position_embeddings", c.context_length },
        { "hidden_size", c.embedding_dim, compare = true },
        { "num_attention_heads", c.num_heads, compare = true },
        { "num_key_value_heads", c.num_kv_heads, compare = true },
        { "num_hidden_layers", c.num_layers, compare = true },
        { "intermediate_size", c.hidden_dim, compare = true },
        { "rope_theta", c.rope_base, compare = true },
        { "rms_norm_eps", c.epsilon, compare = true },
        { "tie_word_embeddings", c.tie_embeddings, compare = true },
        { "use_sliding_window", c.use_sliding_window, compare = true },
        { "sliding_window", c.context_length },
        { "max_window_layers", c.num_layers },
        { "hidden_act", "silu" },
        { "torch_dtype", c.dtype == "f32" and "float32" or "bfloat16" },
        { "bos_token_id", 151643 },
        { "eos_token_id", 151643 },
      },
    }
  end,

  forward = function(g, c)
    local hd = c.embedding_dim // c.num_heads
    local q_out, kv_out = c.num_heads * hd, c.num_kv_heads * hd
    local x = g:embedding("model.embed_tokens.weight", c.vocab_size, c.embedding_dim)
    for l = 0, c.num_layers - 1 do
      local p = ("model.layers.%d."):format(l)

      local h = g:rmsnorm(x, p .. "input_layernorm.weight", c.epsilon)
      local q = g:linear(h, p .. "self_attn.q_proj.weight", q_out, { bias = p .. "self_attn.q_proj.bias" })
      local k = g:linear(h, p .. "self_attn.k_proj.weight", kv_out, { bias = p .. "self_attn.k_proj.bias" })
      local v = g:linear(h, p .. "self_attn.v_proj.weight", kv_out, { bias = p .. "self_attn.v_proj.bias" })
      q = g:rope(q, hd, c.rope_base)
      k = g:rope(k, hd, c.rope_base)
      local a = g:attention(q, k, v, { heads = c.num_heads, kv_heads = c.num_kv_heads, head_dim = hd },
                            p .. "self_attn")
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
