-- rmsnorm: RMSNorm over each row, in f32: x * rsqrt(mean(x^2) + eps) * w.
--
--   g:rmsnorm(x, name, eps [, { offset = 1.0 }])
--
-- offset: the scale is offset + w (Gemma's (1 + w)), added when the weight
-- is bound (Graph:norm_weight).

local clit = require("clit")
local rowwise = require("rowwise")

local M = { kind = "rmsnorm" }

function M.build(g, x, name, eps, opts)
  g:check_tensor("rmsnorm", x, "input")
  local w = g:norm_weight("rmsnorm", name, x.cols, opts)
  return g:op("rmsnorm", { x }, x.cols, { w = w, eps = eps }, g:weight_tensor_name(name))
end

-- A norm read only by nodes that can normalize their own input (a linear's
-- prologue) is done there: the normalized rows are never written out.
function M.fold(node, f)
  if node.out == f.g.result then return false end
  local readers = f:readers(node.out)
  if #readers == 0 then return false end
  for _, r in ipairs(readers) do
    local m = f:module(r)
    if not (m.accepts_norm and m.accepts_norm(r, node.out)) then return false end
  end
  for _, r in ipairs(readers) do
    f:module(r).take_norm(r, { w = node.attrs.w, eps = node.attrs.eps }, node.inputs[1])
  end
  return true
end

function M.emit(node, e)
  local K = node.out.cols
  rowwise.emit(node, e, ("lm_rmsnorm_task(arg, tid, nthreads, %d, %s)"):format(K, clit.float(node.attrs.eps)),
    ("rmsnorm of [n, %d]"):format(K), (".a = %s, .w = %s"):format(e:A(node.inputs[1]), e:W(node.attrs.w)))
end

return M
