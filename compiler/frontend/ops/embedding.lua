-- embedding: x[n, dim] = table[tokens], rows of the embedding matrix
-- converted from the weight dtype to f32.
--
--   g:embedding(name, vocab, dim [, { scale = math.sqrt(dim) }])
--
-- scale multiplies every row (Gemma's Gemma3TextScaledWordEmbedding); the
-- matrix itself is untouched, so a head tied to it reads it unscaled.

local clit = require("clit")

local M = { kind = "embedding" }

function M.build(g, name, vocab, dim, opts)
  g:check_int("embedding", vocab, "vocab")
  g:check_int("embedding", dim, "dim")
  local scale = g:options("embedding", opts, { scale = "positive" }).scale
  local w = g:weight(name, { vocab, dim }, "matrix", "embedding")
  return g:op("embedding", { g.tokens }, dim, { w = w, scale = scale }, g:weight_tensor_name(name))
end

-- transformers multiplies by embed_scale.to(weight.dtype): a bf16 model
-- rounds the scale and the product to bf16, an f32 one does neither. A
-- build rounds as a bf16 model when its linears take bf16 inputs (bf16
-- builds by default): the reference it matches computes in bf16. Every
-- other build computes in f32 and matches an f32 reference: --matmul-input
-- f32, f16 weights (f32 inputs), and quantized builds, from a bf16
-- checkpoint too, whose weights are no longer bf16 values and which are
-- compared with the f32 reference and llama.cpp (its Gemma graph scales
-- the f32 rows by sqrt(dim) in f32).
local function scale_call(node, e, dim)
  local round = e.xbf16 and 1 or 0
  return ("lm_embed_scaled_task(arg, tid, nthreads, %d, %s, %s, %d)"):format(dim, e.dtype_enum[e.dtype],
    clit.float(node.attrs.scale), round), (", times %s%s"):format(clit.shortest(node.attrs.scale, true),
    round == 1 and " rounded to bf16" or "")
end

function M.emit(node, e)
  local dim = node.out.cols
  local call, doc = ("lm_embed_task(arg, tid, nthreads, %d, %s)"):format(dim, e.dtype_enum[e.dtype]), ""
  if node.attrs.scale then call, doc = scale_call(node, e, dim) end
  local name = e:instance(("embed_%d_%s"):format(dim, e.dtype), "embedding.c.in",
    { DIM = dim, DTYPE = e.dtype, CALL = call, SCALE_DOC = doc })
  e:line(("    /* %s: [n, %d] */"):format(node.out.name, dim))
  e:line(("    lm_pool_run(c->pool, %s, &(lm_embed_args){ .tokens = tokens, .table = %s, .y = %s, .n = n });"):format(
    name, e:W(node.attrs.w), e:A(node.out)))
  e:dump(node.out)
end

return M
