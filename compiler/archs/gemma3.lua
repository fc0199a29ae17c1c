-- Gemma 3 text models (Hugging Face Gemma3ForCausalLM, model_type gemma3_text).
--
--   tokens -> embed_tokens x sqrt(hidden)   (the scale rounded to the weights' dtype)
--   per layer:  x += post_attention_layernorm(o_proj(attention(rope(q_norm(q)), rope(k_norm(k)), v)))
--               x += post_feedforward_layernorm(down_proj(gelu_tanh(gate_proj(h2)) * up_proj(h2)))
--     where h = input_layernorm(x), h2 = pre_feedforward_layernorm(x);
--     every norm scales by (1 + w); attention scales by query_pre_attn_scalar^-1/2
--   logits = lm_head(norm(x))   (lm_head is embed_tokens, unscaled, when tied)
--
-- Local layers attend to their last sliding_window positions with RoPE base
-- rope_local_base; the layers in global_layers attend to every position
-- with rope_base and its linear rope_scaling_factor. final_softcap (0:
-- none) caps the logits, c * tanh(s / c). config.json's
-- attn_logit_softcapping is read by no Gemma 3 layer in transformers (its
-- attention passes no softcap), so it is ignored here too.
--
-- multimodal: the text model of a Gemma3ForConditionalGeneration checkpoint
-- (4B, 12B, 27B; model_type gemma3). The same network, with its tensors
-- under language_model., its config under text_config (sparse: every key
-- it leaves out is Gemma3TextConfig's default), no final softcap (that
-- class never applies one) and an image encoder beside it, which this
-- script declares skipped: a text prompt never reaches it.

-- transformers' Gemma3TextConfig defaults: what a key config.json leaves
-- out means. The multimodal checkpoints' text_config names only the keys
-- that differ from them.
local TEXT_DEFAULTS = {
  vocab_size = 262208, hidden_size = 2304, intermediate_size = 9216, num_hidden_layers = 26,
  num_attention_heads = 8, num_key_value_heads = 4, head_dim = 256, hidden_activation = "gelu_pytorch_tanh",
  max_position_embeddings = 131072, rms_norm_eps = 1.0e-6, tie_word_embeddings = true,
  rope_theta = 1000000.0, query_pre_attn_scalar = 256, sliding_window = 4096,
  rope_local_base_freq = 10000.0, sliding_window_pattern = 6, use_bidirectional_attention = false,
}

-- The image encoder of a multimodal checkpoint, which a text prompt never reaches.
local VISION_PREFIXES = { "vision_tower.", "multi_modal_projector." }

-- { [layer] = true } for the layers with full attention.
local function global_set(c)
  local global = {}
  for _, l in ipairs(c.global_layers) do global[l] = true end
  return global
end

return arch "gemma3" {
  params = {
    vocab_size = int,
    context_length = int,
    embedding_dim = int,
    num_heads = int,
    num_kv_heads = int,
    head_dim = int { default = 256 },
    num_layers = int,
    hidden_dim = int,
    rope_base = float { default = 1000000.0 },
    rope_local_base = float { default = 10000.0 },
    rope_scaling_factor = float { default = 1.0 },
    sliding_window = int { default = 4096 },
    global_layers = ints,
    query_pre_attn_scalar = float { default = 256.0 },
    epsilon = float { default = 1.0e-6 },
    tie_embeddings = bool { default = true },
    final_softcap = float { default = 0.0 },
    multimodal = bool { default = false },
  },

  check = function(c, require)
    for _, k in ipairs({ "vocab_size", "context_length", "embedding_dim", "num_heads",
                         "num_kv_heads", "head_dim", "num_layers", "hidden_dim", "sliding_window" }) do
      require(c[k] > 0, k, ("%s must be positive, found %d"):format(k, c[k]))
    end
    require(c.num_heads % c.num_kv_heads == 0, "num_kv_heads",
      ("num_heads (%d) must be a multiple of num_kv_heads (%d)"):format(c.num_heads, c.num_kv_heads))
    require(c.head_dim % 2 == 0, "head_dim", ("head_dim must be even for RoPE, found %d"):format(c.head_dim))
    require(c.epsilon > 0, "epsilon", "epsilon must be positive")
    for _, k in ipairs({ "rope_base", "rope_local_base", "rope_scaling_factor", "query_pre_attn_scalar" }) do
      require(c[k] > 0, k, ("%s must be positive"):format(k))
    end
    require(c.final_softcap >= 0, "final_softcap", "final_softcap must be positive, or 0 for none")
    require(not (c.multimodal and c.final_softcap > 0), "final_softcap",
      "final_softcap must be 0 with multimodal: Gemma3ForConditionalGeneration applies no final softcap")
    local prev = -1
    for _, l in ipairs(c.global_layers) do
      require(l < c.num_layers, "global_layers",
        ("global_layers: layer %d does not exist; the model has %d layers (0 to %d)"):format(l, c.num_layers,
          c.num_layers - 1))
      require(l > prev, "global_layers", "global_layers must be in increasing order, without repeats")
      prev = l
    end
  end,

  -- lmcc import: our config from a Hugging Face config.json, in file order;
  -- a key config.json leaves out takes Gemma3TextConfig's default, as
  -- transformers reads it. Which layers are global comes from layer_types,
  -- or in older files from sliding_window_pattern (every pattern-th layer).
  -- A multimodal checkpoint (model_type gemma3) nests it all in text_config.
  hf_model_type = { "gemma3_text", "gemma3" },
  import = function(hf)
    local multimodal = hf.model_type == "gemma3"
    local text = hf
    if multimodal then
      text = hf.text_config or {}
      if type(text) ~= "table" or text[1] ~= nil then return nil, "text_config must be an object" end
    end
    local function get(k)
      if text[k] ~= nil then return text[k] end
      return TEXT_DEFAULTS[k]
    end
    if text.use_bidirectional_attention then
      return nil, "use_bidirectional_attention is true (an EmbeddingGemma encoder); lmcc compiles causal models"
    end
    if get("hidden_activation") ~= "gelu_pytorch_tanh" then
      return nil, ("hidden_activation '%s' is not supported; Gemma 3 uses gelu_pytorch_tanh"):format(
        tostring(text.hidden_activation))
    end
    local layers = get("num_hidden_layers")
    local global = {}
    if type(text.layer_types) == "table" then
      for i, t in ipairs(text.layer_types) do
        if t == "full_attention" then
          global[#global + 1] = i - 1
        elseif t ~= "sliding_attention" then
          return nil, ("layer_types[%d]: unknown layer type '%s'; Gemma 3 has sliding_attention and "
            .. "full_attention"):format(i - 1, tostring(t))
        end
      end
      if #text.layer_types ~= layers then
        return nil, ("layer_types lists %d layers, num_hidden_layers is %d"):format(#text.layer_types, layers)
      end
    elseif math.type(layers) == "integer" then
      local pattern = get("sliding_window_pattern")
      if math.type(pattern) ~= "integer" or pattern < 1 then
        return nil, ("sliding_window_pattern must be a positive integer, found %s"):format(tostring(pattern))
      end
      for l = 0, layers - 1 do
        if (l + 1) % pattern == 0 then global[#global + 1] = l end
      end
    end
    local rs = text.rope_scaling
    local factor = 1.0
    if type(rs) == "table" then
      local t = rs.rope_type or rs.type
      if t == "linear" then
        factor = rs.factor
      elseif t ~= "default" then
        return nil, ("rope_scaling type '%s' is not supported for Gemma 3; supported: linear"):format(tostring(t))
      end
    end
    local fields = {
      { "vocab_size", get("vocab_size") },
      { "context_length", get("max_position_embeddings") },
      { "embedding_dim", get("hidden_size") },
      { "num_heads", get("num_attention_heads") },
      { "num_kv_heads", get("num_key_value_heads") },
      { "head_dim", get("head_dim") },
      { "num_layers", layers },
      { "hidden_dim", get("intermediate_size") },
      { "rope_base", get("rope_theta") },
      { "rope_local_base", get("rope_local_base_freq") },
      { "rope_scaling_factor", factor },
      { "sliding_window", get("sliding_window") },
      { "global_layers", global },
      { "query_pre_attn_scalar", get("query_pre_attn_scalar") },
      { "epsilon", get("rms_norm_eps") },
      { "tie_embeddings", get("tie_word_embeddings") ~= false },
      -- Gemma3ForConditionalGeneration never caps its logits.
      { "final_softcap", not multimodal and text.final_logit_softcapping or 0.0 },
    }
    if multimodal then fields[#fields + 1] = { "multimodal", true } end
    return fields
  end,

  -- config.json's fields: a key left out is accepted where transformers'
  -- default is the compiled value. A multimodal checkpoint holds them under
  -- text_config (written there whole by lmcc synth, checked key by key).
  hf_config = function(c)
    local layer_types = {}
    local global = global_set(c)
    for l = 0, c.num_layers - 1 do
      layer_types[l + 1] = global[l] and "full_attention" or "sliding_attention"
    end
    local pattern = c.global_layers[1] and c.global_layers[1] + 1
    for l = 0, c.num_layers - 1 do
      if pattern and (global[l] or false) ~= ((l + 1) % pattern == 0) then pattern = nil end
    end
    local text = {
      { "vocab_size", c.vocab_size },
      { "max_position_embeddings", c.context_length },
      { "hidden_size", c.embedding_dim },
      { "num_attention_heads", c.num_heads },
      { "num_key_value_heads", c.num_kv_heads },
      { "head_dim", c.head_dim },
      { "num_hidden_layers", c.num_layers },
      { "intermediate_size", c.hidden_dim },
      { "rope_theta", c.rope_base },
      { "rope_local_base_freq", c.rope_local_base },
      { "sliding_window", c.sliding_window },
      -- Which layers are global: layer_types in newer files, the pattern in
      -- older ones (absent from both: every sliding_window_pattern-th, 6 by
      -- default; the pattern's own check then decides).
      { "layer_types", layer_types, has_default = pattern ~= nil },
      { "query_pre_attn_scalar", c.query_pre_attn_scalar },
      { "rms_norm_eps", c.epsilon },
      { "tie_word_embeddings", c.tie_embeddings },
      { "hidden_activation", "gelu_pytorch_tanh" },
      -- EmbeddingGemma's encoder attends both ways: another model.
      { "use_bidirectional_attention", false },
    }
    if pattern then text[#text + 1] = { "sliding_window_pattern", pattern } end
    -- Softcapping is a number or null in config.json; the multimodal class
    -- never applies it, whatever its text_config says.
    if c.final_softcap > 0 then
      text[#text + 1] = { "final_logit_softcapping", c.final_softcap }
    elseif not c.multimodal then
      text[#text + 1] = { "final_logit_softcapping", nil, absent = true }
    end
    if c.rope_scaling_factor ~= 1.0 then
      text[#text + 1] = { "rope_scaling.factor", c.rope_scaling_factor, nested = true }
      text[#text + 1] = { "rope_scaling", { rope_type = "linear", factor = c.rope_scaling_factor }, compare = false }
    else
      text[#text + 1] = { "rope_scaling", nil, absent = true }
    end
    for _, f in ipairs(text) do
      f.compare = f.compare ~= false
      if f.has_default == nil then f.has_default = f[2] ~= nil and TEXT_DEFAULTS[f[1]] == f[2] end
    end

    local fields = {
      { "torch_dtype", c.dtype == "f32" and "float32" or "bfloat16" },
      { "bos_token_id", 2 },
      { "eos_token_id", { 1, 106 } },
    }
    if not c.multimodal then
      for _, f in ipairs(text) do fields[#fields + 1] = f end
      return { model_type = "gemma3_text", architectures = { "Gemma3ForCausalLM" }, fields = fields }
    end
    local nested = { model_type = "gemma3_text" }
    for _, f in ipairs(text) do
      if not f.nested and not f.absent then nested[f[1]] = f[2] end
      if f.compare then
        fields[#fields + 1] = { "text_config." .. f[1], f[2], compare = true, nested = true,
                                has_default = f.has_default, absent = f.absent }
      end
    end
    fields[#fields + 1] = { "text_config", nested }
    return { model_type = "gemma3", architectures = { "Gemma3ForConditionalGeneration" }, fields = fields }
  end,

  forward = function(g, c)
    local norm = { offset = 1.0 } -- Gemma's norms scale by (1 + w)
    local global = global_set(c)
    local scaling = c.rope_scaling_factor ~= 1.0 and { type = "linear", factor = c.rope_scaling_factor } or nil
    local attn = {
      heads = c.num_heads, kv_heads = c.num_kv_heads, head_dim = c.head_dim,
      scale = c.query_pre_attn_scalar ^ -0.5,
    }

    -- A multimodal checkpoint nests the text model under language_model.
    local m = c.multimodal and "language_model.model." or "model."
    if c.multimodal then
      g:skip_tensors(VISION_PREFIXES, "the image encoder and its projector, which a text prompt never reaches")
    end

    local x = g:embedding(m .. "embed_tokens.weight", c.vocab_size, c.embedding_dim,
      { scale = math.sqrt(c.embedding_dim) })
    for l = 0, c.num_layers - 1 do
      local p = ("%slayers.%d."):format(m, l)
      local rope = global[l] and { base = c.rope_base, scaling = scaling } or { base = c.rope_local_base }
      attn.window = not global[l] and c.sliding_window or nil

      local h = g:rmsnorm(x, p .. "input_layernorm.weight", c.epsilon, norm)
      local q = g:linear(h, p .. "self_attn.q_proj.weight", c.num_heads * c.head_dim)
      local k = g:linear(h, p .. "self_attn.k_proj.weight", c.num_kv_heads * c.head_dim)
      local v = g:linear(h, p .. "self_attn.v_proj.weight", c.num_kv_heads * c.head_dim)
      q = g:head_rmsnorm(q, p .. "self_attn.q_norm.weight", c.head_dim, c.epsilon, norm)
      k = g:head_rmsnorm(k, p .. "self_attn.k_norm.weight", c.head_dim, c.epsilon, norm)
      q = g:rope(q, c.head_dim, rope.base, { scaling = rope.scaling })
      k = g:rope(k, c.head_dim, rope.base, { scaling = rope.scaling })
      local a = g:attention(q, k, v, attn, p .. "self_attn")
      local o = g:linear(a, p .. "self_attn.o_proj.weight", c.embedding_dim)
      x = g:add(x, g:rmsnorm(o, p .. "post_attention_layernorm.weight", c.epsilon, norm))

      local h2 = g:rmsnorm(x, p .. "pre_feedforward_layernorm.weight", c.epsilon, norm)
      local gate = g:linear(h2, p .. "mlp.gate_proj.weight", c.hidden_dim)
      local up = g:linear(h2, p .. "mlp.up_proj.weight", c.hidden_dim)
      local m = g:linear(g:geglu(gate, up), p .. "mlp.down_proj.weight", c.embedding_dim)
      x = g:add(x, g:rmsnorm(m, p .. "post_feedforward_layernorm.weight", c.epsilon, norm))
    end
    local head = c.tie_embeddings and m .. "embed_tokens.weight"
      or (c.multimodal and "language_model.lm_head.weight" or "lm_head.weight")
    local logits = g:linear(g:rmsnorm(x, m .. "norm.weight", c.epsilon, norm), head, c.vocab_size)
    if c.final_softcap > 0 then logits = g:softcap(logits, c.final_softcap) end
    return g:logits(logits)
  end,
}
