-- gemma_ops: a test-only architecture (tests/compiler/ops/ops.sh installs
-- it in a scratch LMCC_HOME) that runs Gemma 3's non-attention ops
-- end to end, checked against gemma_ops_ref.py:
--
--   x = embed_tokens(tokens) * sqrt(embedding_dim)
--   per layer:  x += mixer(rmsnorm(x) * (0.5 + input_layernorm))
--               x += down_proj(geglu(gate_proj(h), up_proj(h)))
--     where h = rmsnorm(x) * (1 + input_layernorm): one tensor bound
--     with two offsets, so two slots
--   logits = softcap(embed_tokens(rmsnorm(x) * (1 + norm)), final_logit_softcapping)
--
-- fuse: false gives up_proj the layer's input instead of h, so geglu runs
-- row-wise, and caps the residual stream after each layer with a
-- standalone softcap. probe names a script error to provoke.

return arch "gemma_ops" {
  params = {
    vocab_size = int,
    context_length = int,
    embedding_dim = int,
    hidden_dim = int,
    num_layers = int,
    epsilon = float { default = 1.0e-6 },
    final_logit_softcapping = float,
    residual_softcapping = float { default = 4.0 },
    fuse = bool { default = true },
    probe = string { default = "none" },
  },

  hf_config = function(c)
    return { model_type = "gemma_ops", architectures = { "GemmaOpsForTest" }, fields = {
      { "vocab_size", c.vocab_size, compare = true },
      { "hidden_size", c.embedding_dim, compare = true },
      { "intermediate_size", c.hidden_dim, compare = true },
      { "num_hidden_layers", c.num_layers, compare = true },
      { "rms_norm_eps", c.epsilon, compare = true },
      { "final_logit_softcapping", c.final_logit_softcapping, compare = true },
      { "residual_softcapping", c.residual_softcapping, compare = true },
      { "torch_dtype", c.dtype == "f32" and "float32" or "bfloat16" },
    } }
  end,

  forward = function(g, c)
    local D, F = c.embedding_dim, c.hidden_dim
    local x = g:embedding("model.embed_tokens.weight", c.vocab_size, D, { scale = math.sqrt(D) })
    for l = 0, c.num_layers - 1 do
      local p = ("model.layers.%d."):format(l)
      local norm_opts = c.probe == "bad_option" and { ofset = 1.0 } or { offset = 0.5 }
      local hm = g:rmsnorm(x, p .. "input_layernorm.weight", c.epsilon, norm_opts)
      x = g:add(x, g:linear(hm, p .. "mixer.weight", D))
      local h = g:rmsnorm(x, p .. "input_layernorm.weight", c.epsilon, { offset = 1.0 })
      local gate = g:linear(h, p .. "mlp.gate_proj.weight", F)
      local up = g:linear(c.fuse and h or x, p .. "mlp.up_proj.weight", F)
      x = g:add(x, g:linear(g:geglu(gate, up), p .. "mlp.down_proj.weight", D))
      if not c.fuse then x = g:softcap(x, c.residual_softcapping) end
    end
    local head = g:linear(g:rmsnorm(x, "model.norm.weight", c.epsilon, { offset = 1.0 }),
                          "model.embed_tokens.weight", c.vocab_size)
    -- head_shared: the head's output has a second reader, so the softcap
    -- cannot be its epilogue (an error: only a linear writes the logits).
    if c.probe == "head_shared" then g:add(head, head) end
    -- skip_*: Graph:skip_tensors declared twice, covering a weight the model
    -- reads, or without its reason.
    if c.probe == "skip_twice" then
      g:skip_tensors({ "vision_tower." }, "an encoder")
      g:skip_tensors({ "audio_tower." }, "another")
    elseif c.probe == "skip_covers" then
      g:skip_tensors({ "vision_tower.", "model.layers.1." }, "an encoder")
    elseif c.probe == "skip_no_reason" then
      g:skip_tensors({ "vision_tower." })
    end
    return g:logits(g:softcap(head, c.final_logit_softcapping))
  end,
}
