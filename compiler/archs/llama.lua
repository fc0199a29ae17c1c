-- Llama 3.x (Hugging Face LlamaForCausalLM, model_type llama).
--
--   tokens -> embed_tokens
--   per layer:  x += o_proj(attention(rope(q_proj(h)), rope(k_proj(h)), v_proj(h)))
--               x += down_proj(silu(gate_proj(h2)) * up_proj(h2))
--     where h = input_layernorm(x), h2 = post_attention_layernorm(x)
--   logits = lm_head(norm(x))   (lm_head is embed_tokens when tied)
--
-- attention_bias puts biases on q, k, v and o; mlp_bias on gate, up and
-- down. config.json's rope_scaling is data for the rope op: the YAML keys
-- rope_scaling_type (none, linear, llama3) and the factors it needs.

local SCALING_TYPES = { none = true, linear = true, llama3 = true }

return arch "llama" {
  params = {
    vocab_size = int,
    context_length = int,
    embedding_dim = int,
    num_heads = int,
    num_kv_heads = int,
    head_dim = int { default = function(c) return c.embedding_dim // c.num_heads end },
    num_layers = int,
    hidden_dim = int,
    rope_base = float { default = 10000.0 },
    epsilon = float { default = 1.0e-6 },
    tie_embeddings = bool { default = false },
    attention_bias = bool { default = false },
    mlp_bias = bool { default = false },
    rope_scaling_type = string { default = "none" },
    rope_scaling_factor = float { default = 1.0 },
    rope_low_freq_factor = float { default = 1.0 },
    rope_high_freq_factor = float { default = 4.0 },
    rope_original_context = int { default = 8192 },
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
    require(SCALING_TYPES[c.rope_scaling_type], "rope_scaling_type",
      ("rope_scaling type '%s' is not supported; supported: none, linear, llama3"):format(c.rope_scaling_type))
    require(c.rope_scaling_factor > 0, "rope_scaling_factor", "rope_scaling_factor must be positive")
    require(c.rope_high_freq_factor > c.rope_low_freq_factor and c.rope_low_freq_factor > 0, "rope_high_freq_factor",
      "rope_high_freq_factor must be greater than rope_low_freq_factor, both positive")
    require(c.rope_original_context > 0, "rope_original_context", "rope_original_context must be positive")
  end,

  -- lmcc import: our config from a Hugging Face config.json, in file order.
  hf_model_type = "llama",
  import = function(hf)
    local heads = hf.num_attention_heads
    local rs = hf.rope_scaling
    local fields = {
      { "vocab_size", hf.vocab_size },
      { "context_length", hf.max_position_embeddings },
      { "embedding_dim", hf.hidden_size },
      { "num_heads", heads },
      { "num_kv_heads", hf.num_key_value_heads or heads },
      { "head_dim", hf.head_dim or (hf.hidden_size and heads and hf.hidden_size // heads) },
      { "num_layers", hf.num_hidden_layers },
      { "hidden_dim", hf.intermediate_size },
      { "rope_base", hf.rope_theta or 10000.0 },
      { "epsilon", hf.rms_norm_eps or 1.0e-6 },
      { "tie_embeddings", hf.tie_word_embeddings or false },
      { "attention_bias", hf.attention_bias or false },
      { "mlp_bias", hf.mlp_bias or false },
    }
    if rs ~= nil then
      -- Older configs name the type "type", newer ones "rope_type".
      local t = type(rs) == "table" and (rs.rope_type or rs.type) or tostring(rs)
      fields[#fields + 1] = { "rope_scaling_type", t }
      if type(rs) == "table" and t ~= "default" then
        fields[#fields + 1] = { "rope_scaling_factor", rs.factor }
        if t == "llama3" then
          fields[#fields + 1] = { "rope_low_freq_factor", rs.low_freq_factor }
          fields[#fields + 1] = { "rope_high_freq_factor", rs.high_freq_factor }
          fields[#fields + 1] = { "rope_original_context", rs.original_max_position_embeddings }
        end
      end
    end
    return fields
  end,

  hf_config = function(c)
    local fields = {
      { "vocab_size", c.vocab_size, compare = true },
      { "max_position_embeddings", c.context_length, compare = true },
      { "hidden_size", c.embedding_dim, compare = true },
      { "num_attention_heads", c.num_heads, compare = true },
      { "num_key_value_heads", c.num_kv_heads, compare = true },
      -- Llama 3.1's config.json has no head_dim: absent means hidden / heads.
      { "head_dim", c.head_dim, compare = true,
        has_default = c.head_dim == c.embedding_dim // c.num_heads },
      { "num_hidden_layers", c.num_layers, compare = true },
      { "intermediate_size", c.hidden_dim, compare = true },
      { "rope_theta", c.rope_base, compare = true },
      { "rms_norm_eps", c.epsilon, compare = true },
      { "tie_word_embeddings", c.tie_embeddings, compare = true },
      { "attention_bias", c.attention_bias, compare = true },
      { "mlp_bias", c.mlp_bias, compare = true },
      { "hidden_act", "silu" },
      { "torch_dtype", c.dtype == "f32" and "float32" or "bfloat16" },
      { "bos_token_id", 128000 },
      { "eos_token_id", 128001 },
    }
    -- rope_scaling is one object in config.json; its numbers are checked
    -- one by one ("rope_scaling.factor").
    if c.rope_scaling_type ~= "none" then
      local numbers = { { "factor", c.rope_scaling_factor } }
      if c.rope_scaling_type == "llama3" then
        numbers[2] = { "low_freq_factor", c.rope_low_freq_factor }
        numbers[3] = { "high_freq_factor", c.rope_high_freq_factor }
        numbers[4] = { "original_max_position_embeddings", c.rope_original_context }
      end
      local rs = { rope_type = c.rope_scaling_type }
      for _, n in ipairs(numbers) do
        rs[n[1]] = n[2]
        fields[#fields + 1] = { "rope_scaling." .. n[1], n[2], compare = true, nested = true }
      end
      -- The type too, so a checkpoint scaled another way is refused; older
      -- files spell it "type", so an absent rope_type is not an error.
      fields[#fields + 1] = { "rope_scaling.rope_type", c.rope_scaling_type, compare = true,
                              nested = true, has_default = true }
      fields[#fields + 1] = { "rope_scaling", rs }
    else
      -- Compiled without scaling: a checkpoint that scales is another model.
      fields[#fields + 1] = { "rope_scaling", nil, compare = true, absent = true }
    end
    return { model_type = "llama", architectures = { "LlamaForCausalLM" }, fields = fields }
  end,

  forward = function(g, c)
    local scaling = nil
    if c.rope_scaling_type ~= "none" then
      scaling = { type = c.rope_scaling_type, factor = c.rope_scaling_factor,
                  low_freq_factor = c.rope_low_freq_factor, high_freq_factor = c.rope_high_freq_factor,
                  original_max_position_embeddings = c.rope_original_context }
    end
    local function bias(on, name) return on and { bias = name } or nil end
    local q_out, kv_out = c.num_heads * c.head_dim, c.num_kv_heads * c.head_dim
    local x = g:embedding("model.embed_tokens.weight", c.vocab_size, c.embedding_dim)
    for l = 0, c.num_layers - 1 do
      local p = ("model.layers.%d."):format(l)
      local a_b, m_b = c.attention_bias, c.mlp_bias

      local h = g:rmsnorm(x, p .. "input_layernorm.weight", c.epsilon)
      local q = g:linear(h, p .. "self_attn.q_proj.weight", q_out, bias(a_b, p .. "self_attn.q_proj.bias"))
      local k = g:linear(h, p .. "self_attn.k_proj.weight", kv_out, bias(a_b, p .. "self_attn.k_proj.bias"))
      local v = g:linear(h, p .. "self_attn.v_proj.weight", kv_out, bias(a_b, p .. "self_attn.v_proj.bias"))
      q = g:rope(q, c.head_dim, c.rope_base, { scaling = scaling })
      k = g:rope(k, c.head_dim, c.rope_base, { scaling = scaling })
      local a = g:attention(q, k, v, { heads = c.num_heads, kv_heads = c.num_kv_heads,
                                       head_dim = c.head_dim }, p .. "self_attn")
      x = g:add(x, g:linear(a, p .. "self_attn.o_proj.weight", c.embedding_dim,
                            bias(a_b, p .. "self_attn.o_proj.bias")))

      local h2 = g:rmsnorm(x, p .. "post_attention_layernorm.weight", c.epsilon)
      local gate = g:linear(h2, p .. "mlp.gate_proj.weight", c.hidden_dim, bias(m_b, p .. "mlp.gate_proj.bias"))
      local up = g:linear(h2, p .. "mlp.up_proj.weight", c.hidden_dim, bias(m_b, p .. "mlp.up_proj.bias"))
      x = g:add(x, g:linear(g:swiglu(gate, up), p .. "mlp.down_proj.weight", c.embedding_dim,
                            bias(m_b, p .. "mlp.down_proj.bias")))
    end
    local head = c.tie_embeddings and "model.embed_tokens.weight" or "lm_head.weight"
    return g:logits(g:linear(g:rmsnorm(x, "model.norm.weight", c.epsilon), head, c.vocab_size))
  end,
}
