-- embedding: x[n, dim] = table[tokens], rows of the embedding matrix
-- converted from the weight dtype to f32.

local M = { kind = "embedding" }

function M.build(g, name, vocab, dim)
  g:check_int("embedding", vocab, "vocab")
  g:check_int("embedding", dim, "dim")
  local w = g:weight(name, { vocab, dim }, "matrix", "embedding")
  return g:op("embedding", { g.tokens }, dim, { w = w }, g:weight_tensor_name(name))
end

function M.emit(node, e)
  local dim = node.out.cols
  local name = e:instance(("embed_%d_%s"):format(dim, e.dtype), "embedding.c.in",
    { DIM = dim, DTYPE = e.dtype, DTYPE_ENUM = e.dtype_enum[e.dtype] })
  e:line(("    /* %s: [n, %d] */"):format(node.out.name, dim))
  e:line(("    lm_pool_run(c->pool, %s, &(lm_embed_args){ .tokens = tokens, .table = %s, .y = %s, .n = n });"):format(
    name, e:W(node.attrs.w), e:A(node.out)))
  e:dump(node.out)
end

return M
