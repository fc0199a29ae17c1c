-- rope: rotary position embedding on each head_dim-wide slice, rotate-half
-- pairing (i, i + rot/2), inv_freq = 1 / base^(2i/rot). opts.rot_dim
-- rotates only the first rot_dim dims of each head (default all); opts.ntk =
-- seq_length turns on Qwen1's dynamic NTK scaling of the base; opts.scaling
-- is config.json's rope_scaling as data: { type = "linear", factor = f } or
-- { type = "llama3", factor, low_freq_factor, high_freq_factor,
-- original_max_position_embeddings } (runtime/kernels/rope.h). Like
-- head_rmsnorm it runs inside attention, which rotates q and k as it reads
-- them and caches the rotated keys.

local M = { kind = "rope" }

-- The kernels keep a head's inv_freq table on the stack (LM_MAX_ROT).
local MAX_ROT = 512

-- The rope_scaling types and the fields each needs (positive numbers).
local SCALING = {
  linear = { "factor" },
  llama3 = { "factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings" },
}

local function check_scaling(g, s)
  if s == nil then return nil end
  local fields = type(s) == "table" and SCALING[s.type]
  if not fields then
    local known = {}
    for k in pairs(SCALING) do known[#known + 1] = k end
    table.sort(known)
    g:fail("rope", ("rope scaling type '%s' is not supported; supported: %s"):format(
      tostring(type(s) == "table" and s.type or s), table.concat(known, ", ")))
  end
  local out = { type = s.type }
  for _, k in ipairs(fields) do
    local v = s[k]
    if type(v) ~= "number" or not (v > 0) then
      g:fail("rope", ("rope scaling %s: %s must be a positive number, got %s"):format(s.type, k, tostring(v)))
    end
    out[k] = v + 0.0
  end
  if s.type == "llama3" and not (out.high_freq_factor > out.low_freq_factor) then
    g:fail("rope", "rope scaling llama3: high_freq_factor must be greater than low_freq_factor")
  end
  return out
end

-- Two scalings are the same (q and k must share one).
function M.same_scaling(a, b)
  if a == nil or b == nil then return a == b end
  if a.type ~= b.type then return false end
  for _, k in ipairs(SCALING[a.type]) do
    if a[k] ~= b[k] then return false end
  end
  return true
end

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
  if opts.ntk and opts.scaling then
    g:fail("rope", "dynamic NTK and rope scaling cannot be combined")
  end
  return g:op("rope", { x }, x.cols, { head_dim = head_dim, base = base + 0.0, rot = rot,
    ntk = opts.ntk, scaling = check_scaling(g, opts.scaling) }, (x.name or "x") .. ".rope")
end

function M.lower(op, f)
  f:only_fused(op, "attention")
end

return M
