-- rope: rotary position embedding on each head_dim-wide slice, rotate-half
-- pairing (i, i + rot/2), inv_freq = 1 / base^(2i/rot). opts.rot_dim
-- rotates only the first rot_dim dims of each head (default all); opts.ntk =
-- seq_length turns on Qwen1's dynamic NTK scaling of the base. Like
-- head_rmsnorm it runs inside attention, which rotates q and k as it reads
-- them and caches the rotated keys.

local M = { kind = "rope" }

-- The kernels keep a head's inv_freq table on the stack (LM_MAX_ROT).
local MAX_ROT = 512

function M.build(g, x, head_dim, base, opts)
  g:check_tensor("rope", x, "input")
  opts = opts or {}
  if x.cols % head_dim ~= 0 then
    g:fail("rope", ("input width %d is not a multiple of head_dim %d"):format(x.cols, head_dim))
  end
  local rot = opts.rot_dim or head_dim
  if rot % 2 ~= 0 or rot < 2 or rot > head_dim or rot > MAX_ROT then
    g:fail("rope", ("rotary dims must be even, in [2, head_dim] and at most %d, got %s"):format(MAX_ROT, tostring(rot)))
  end
  return g:op("rope", { x }, x.cols, { head_dim = head_dim, base = base + 0.0, rot = rot,
    ntk = opts.ntk }, (x.name or "x") .. ".rope")
end

function M.lower(op, f)
  f:only_fused(op, "attention")
end

return M
