-- head_rmsnorm: RMSNorm over each head_dim-wide slice of a row (Qwen3's
-- q_norm and k_norm). It has no kernel of its own: attention takes it in
-- (see ops/attention.lua), normalizing each head as it reads it.
--
--   g:head_rmsnorm(x, name, head_dim, eps [, { offset = 1.0 }])
--
-- offset as in ops/rmsnorm.lua (Gemma 3's q_norm and k_norm scale by 1 + w).

local M = { kind = "head_rmsnorm" }

function M.build(g, x, name, head_dim, eps, opts)
  g:check_tensor("head_rmsnorm", x, "input")
  g:check_int("head_rmsnorm", head_dim, "head_dim")
  if x.cols % head_dim ~= 0 then
    g:fail("head_rmsnorm", ("input width %d is not a multiple of head_dim %d"):format(x.cols, head_dim))
  end
  local w = g:norm_weight("head_rmsnorm", name, head_dim, opts)
  return g:op("head_rmsnorm", { x }, x.cols, { w = w, eps = eps, head_dim = head_dim },
    g:weight_tensor_name(name))
end

function M.lower(op, f)
  f:only_fused(op, "attention")
end

return M
