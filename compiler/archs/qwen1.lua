-- Qwen (the first generation; Hugging Face QWenLMHeadModel, model_type qwen).
--
--   tokens -> transformer.wte
--   per layer:  h = ln_1(x)
--               q, k, v = rows of c_attn(h)     (one fused [3P, E] weight and bias)
--               x += c_proj(attention(rope(q), rope(k), v))
--               h2 = ln_2(x)
--               x += mlp.c_proj(w1(h2) * silu(w2(h2)))
--   logits = lm_head(ln_f(x))
--
-- Past seq_length tokens, Qwen raises the RoPE base (dynamic NTK) and scales
-- queries by log(pos + 1) / log(seq_length) (logn attention).

return arch "qwen1" {
  params = {
    vocab_size = int,
    context_length = int,
    seq_length = int,
    embedding_dim = int,
    num_heads = int,
    head_dim = int { default = function(c) return c.embedding_dim // c.num_heads end },
    num_layers = int,
    hidden_dim = int,               -- intermediate_size: both MLP branches together
    rope_base = float { default = 10000.0 },
    rotary_pct = float { default = 1.0 },
    epsilon = float { default = 1.0e-6 },
    use_logn_attn = bool { default = true },
    use_dynamic_ntk = bool { default = true },
    tie_embeddings = bool { default = false },
  },

  check = function(c, require)
    for _, k in ipairs({ "vocab_size", "context_length", "seq_length", "embedding_dim", "num_heads",
                         "head_dim", "num_layers", "hidden_dim" }) do
      require(c[k] > 0, k, ("%s must be positive, found %d"):format(k, c[k]))
    end
    require(c.hidden_dim % 2 == 0, "hidden_dim",
      ("hidden_dim (intermediate_size) must be even: two branches of hidden_dim/2, found %d"):format(c.hidden_dim))
    local rot = math.floor(c.head_dim * c.rotary_pct)
    require(c.rotary_pct > 0 and c.rotary_pct <= 1, "rotary_pct", "rotary_pct must be in (0, 1]")
    require(rot % 2 == 0 and rot >= 2, "rotary_pct",
      ("head_dim * rotary_pct must be an even number of dims, found %d"):format(rot))
    require(c.epsilon > 0, "epsilon", "epsilon must be positive")
  end,

  -- lmcc import: our config from a Hugging Face config.json, in file order.
  hf_model_type = "qwen",
  import = function(hf)
    local heads = hf.num_attention_heads
    return {
      { "vocab_size", hf.vocab_size },
      { "context_length", hf.max_position_embeddings },
      { "seq_length", hf.seq_length },
      { "embedding_dim", hf.hidden_size },
      { "num_heads", heads },
      { "head_dim", hf.kv_channels or (hf.hidden_size and heads and hf.hidden_size // heads) },
      { "num_layers", hf.num_hidden_layers },
      { "hidden_dim", hf.intermediate_size },
      { "rope_base", hf.rotary_emb_base or 10000.0 },
      { "rotary_pct", hf.rotary_pct or 1.0 },
      { "epsilon", hf.layer_norm_epsilon or 1.0e-6 },
      { "use_logn_attn", hf.use_logn_attn ~= false },
      { "use_dynamic_ntk", hf.use_dynamic_ntk ~= false },
      { "tie_embeddings", hf.tie_word_embeddings or false },
    }
  end,

  hf_config = function(c)
    return {
      model_type = "qwen",
      architectures = { "QWenLMHeadModel" },
      fields = {
        { "vocab_size", c.vocab_size, compare = true },
        { "max_position_embeddings", c.context_length, compare = true },
        { "seq_length", c.seq_length, compare = true },
        { "hidden_size", c.embedding_dim, compare = true },
        { "num_attention_heads", c.num_heads, compare = true },
        { "kv_channels", c.head_dim, compare = true },
        { "num_hidden_layers", c.num_layers, compare = true },
        { "intermediate_size", c.hidden_dim, compare = true },
        { "rotary_emb_base", c.rope_base, compare = true },
        { "rotary_pct", c.rotary_pct, compare = true },
        { "layer_norm_epsilon", c.epsilon, compare = true },
        { "use_logn_attn", c.use_logn_attn, compare = true },
        { "use_dynamic_ntk", c.use_dynamic_ntk, compare = true },
        { "tie_word_embeddings", c.tie_embeddings, compare = true },
        { "no_bias", true },
        { "scale_attn_weights", true },
        { "torch_dtype", c.dtype == "f32" and "float32" or "bfloat16" },
      },
    }
  end,

  forward = function(g, c)
    local E, P, F = c.embedding_dim, c.num_heads * c.head_dim, c.hidden_dim // 2
    local rope = { rot_dim = math.floor(c.head_dim * c.rotary_pct),
                   ntk = c.use_dynamic_ntk and c.seq_length or nil }
    local x = g:embedding("transformer.wte.weight", c.vocab_size, E)
    for l = 0, c.num_layers - 1 do
      local p = ("transformer.h.%d."):format(l)

      local h = g:rmsnorm(x, p .. "ln_1.weight", c.epsilon)
      -- c_attn stores q, k and v stacked by rows, with one bias.
      local w = g:rows(p .. "attn.c_attn.weight", { 3 * P, E })
      local b = g:rows(p .. "attn.c_attn.bias", { 3 * P })
      local q = g:linear(h, w(0, P), P, { bias = b(0, P) })
      local k = g:linear(h, w(P, P), P, { bias = b(P, P) })
      local v = g:linear(h, w(2 * P, P), P, { bias = b(2 * P, P) })
      q = g:rope(q, c.head_dim, c.rope_base, rope)
      k = g:rope(k, c.head_dim, c.rope_base, rope)
      local a = g:attention(q, k, v, { heads = c.num_heads, kv_heads = c.num_heads, head_dim = c.head_dim,
                                       logn = c.use_logn_attn and c.seq_length or nil }, p .. "attn")
      x = g:add(x, g:linear(a, p .. "attn.c_proj.weight", E))

      local h2 = g:rmsnorm(x, p .. "ln_2.weight", c.epsilon)
      local up = g:linear(h2, p .. "mlp.w1.weight", F)
      local gate = g:linear(h2, p .. "mlp.w2.weight", F)
      x = g:add(x, g:linear(g:swiglu(gate, up), p .. "mlp.c_proj.weight", E))
    end
    local head = c.tie_embeddings and "transformer.wte.weight" or "lm_head.weight"
    return g:logits(g:linear(g:rmsnorm(x, "transformer.ln_f.weight", c.epsilon), head, c.vocab_size))
  end,
}
