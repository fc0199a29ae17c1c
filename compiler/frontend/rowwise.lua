-- Emission shared by the ops whose kernel treats each row of [n, K] on its
-- own (a standalone rmsnorm, add, swiglu): one instance of
-- templates/rowwise.c.in per kind and width, called with lm_rows_args.

local M = {}

-- call: the kernel call inside the instance; doc: its comment; fields: the
-- lm_rows_args inputs (".a = ..., .b = ...").
function M.emit(node, e, call, doc, fields)
  local K = node.out.cols
  local name = e:instance(("%s_%d"):format(node.kind, K), "rowwise.c.in", { DOC = doc, CALL = call })
  e:line(("    /* %s: [n, %d] */"):format(node.out.name, K))
  e:line(("    lm_pool_run(c->pool, %s, &(lm_rows_args){ %s, .y = %s, .n = n });"):format(
    name, fields, e:A(node.out)))
  e:dump(node.out)
end

-- The fields of an op with two activation inputs.
function M.two_inputs(node, e)
  return (".a = %s, .b = %s"):format(e:A(node.inputs[1]), e:A(node.inputs[2]))
end

return M
