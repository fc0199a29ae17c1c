-- experts: a mixture-of-experts layer's expert MLPs, weighted by a route.
--
--   y = experts(x, route, prefix, num_experts, width)
--   y[t] = sum over the experts e that route[t] chose of
--          weight_e * down_e(silu(gate_e(x[t])) * up_e(x[t]))
--
-- route comes from g:router (ops/router.lua); the experts' weights are
-- prefix.{e}.gate_proj.weight, up_proj [width, D] and down_proj [D, width],
-- as Qwen3-MoE and Mixtral-style checkpoints name them. The node takes in
-- the rmsnorm of x (done while gathering each expert's rows) and an add of
-- a residual (ops/add.lua), so a sparse MLP is the router's linear, the
-- router and this node's three pool runs: lm_experts_*_task in
-- runtime/kernels/moe.h, over the linear op's kernels.

local linear = require("ops.linear")
local clit = require("clit")

local M = { kind = "experts" }

-- LM_MOE_MAX_EXPERTS in runtime/kernels/moe.h.
local MAX_EXPERTS = 512

function M.build(g, x, route, prefix, num_experts, width, name)
  g:check_tensor("experts", x, "input")
  g:check_tensor("experts", route, "route")
  g:check_int("experts", num_experts, "num_experts")
  g:check_int("experts", width, "width")
  local router = route.producer
  if not (router and router.kind == "router") then
    g:fail("experts", "route must be the output of g:router")
  end
  if router.inputs[1].cols ~= num_experts then
    g:fail("experts", ("the router scores %d experts, the layer has %d"):format(router.inputs[1].cols, num_experts))
  end
  if num_experts > MAX_EXPERTS then
    g:fail("experts", ("%d experts, more than the %d the runtime supports"):format(num_experts, MAX_EXPERTS))
  end
  if type(prefix) ~= "string" then g:fail("experts", "prefix must be a string") end
  -- Declared expert by expert, so each expert's three slots are adjacent
  -- (the kernel indexes them from the first).
  local w = {}
  for e = 0, num_experts - 1 do
    local p = ("%s.%d."):format(prefix, e)
    w[#w + 1] = g:matrix("experts", p .. "gate_proj.weight", width, x.cols, "matrix")
    w[#w + 1] = g:matrix("experts", p .. "up_proj.weight", width, x.cols, "matrix")
    w[#w + 1] = g:matrix("experts", p .. "down_proj.weight", x.cols, width, "matrix")
  end
  local top_k = router.attrs.top_k
  -- The kernel's buffers: each token's row once per chosen expert, and
  -- silu(gate) * up of each ([n, k D] and [n, k width] in the arena).
  local xs = g:tensor(top_k * x.cols, prefix .. ".gathered")
  local hs = g:tensor(top_k * width, prefix .. ".hidden")
  return g:op("experts", { x, route }, x.cols, {
    w = w, num_experts = num_experts, width = width, top_k = top_k, xs = xs, hs = hs,
  }, name or prefix)
end

local function node_of(op, residual, out, index)
  return {
    kind = "experts", x = op.inputs[1], route = op.inputs[2], residual = residual,
    attrs = op.attrs, outs = { out, op.attrs.xs, op.attrs.hs },
    reads = { op.inputs[1], op.inputs[2], residual }, name = out.name, index = index,
  }
end

function M.lower(op)
  return node_of(op, nil, op.out, op.index)
end

-- ops/add.lua: add(residual, experts(...)) starts y from the residual.
function M.with_residual(op, residual, add_op)
  return node_of(op, residual, add_op.out, add_op.index)
end

-- ops/rmsnorm.lua: the gather normalizes each row it copies.
function M.accepts_norm(node, t)
  return node.x == t and node.residual ~= t and node.route ~= t and not node.norm
end

function M.take_norm(node, norm, src)
  node.norm = norm
  node.x = src
  node.reads[1] = src
end

function M.emit(node, e)
  local a = node.attrs
  local D, F, E, k = node.x.cols, a.width, a.num_experts, a.top_k
  local dtype = a.w[1].dtype
  for i, w in ipairs(a.w) do
    if w.slot ~= a.w[1].slot + i - 1 then
      error(("experts %s: weight slots are not adjacent (%s)"):format(node.name, w.name))
    end
  end
  -- Per token, k experts' three matrices are read: what decode's bandwidth
  -- limit counts.
  local per_expert = 3 * D * F
  e.params = e.params + k * per_expert
  e.weight_bytes = e.weight_bytes + k * (e:bytes_of(a.w[1]) + e:bytes_of(a.w[2]) + e:bytes_of(a.w[3]))
  local base = ("experts_%d_%d_%d_top%d_%s%s%s"):format(D, F, E, k, dtype, node.norm and "_norm" or "",
    e.xbf16 and "_xbf16" or "")
  local name = e:instance(base, "experts.c.in", {
    D = D, F = F, E = E, K = k, DTYPE = dtype, DTYPE_ENUM = e.dtype_enum[dtype], XBF16 = e.xbf16 and 1 or 0,
    EPS = node.norm and clit.float(node.norm.eps) or "0.0f", NORM_DOC = node.norm and " rmsnorm," or "",
  })
  local lin = math.max(linear.scratch_floats(e, dtype, D, false, true), linear.scratch_floats(e, dtype, F, false, false))
  e:scratch(lin + (E + 1) + 2 * e.batch * k)
  local fields = {
    ".x = " .. e:A(node.x),
    node.norm and ".norm_w = " .. e:W(node.norm.w) or nil,
    ".route = " .. e:A(node.route),
    (".w = &W[%d]"):format(a.w[1].slot),
    node.residual and ".residual = " .. e:A(node.residual) or nil,
    ".y = " .. e:A(node.outs[1]),
    ".xs = " .. e:A(a.xs),
    ".hs = " .. e:A(a.hs),
    (".counts = c->expert_tokens ? c->expert_tokens + (size_t)%d * %d : NULL"):format(e.moe_layers, E),
    ".scratch = c->scratch, .scratch_stride = SCRATCH_FLOATS",
    ".n = n",
  }
  local list = {}
  for i = 1, 11 do if fields[i] then list[#list + 1] = fields[i] end end
  e.moe_layers = e.moe_layers + 1
  if e.moe_experts ~= 0 and e.moe_experts ~= E then
    error(("experts %s: %d experts where an earlier layer has %d; the routing counters need one expert count for every layer"):format(
      node.name, E, e.moe_experts))
  end
  e.moe_experts = E
  e:line(("    /* %s: %s[n, %d] -> %d of %d experts of width %d -> [n, %d] */"):format(node.name,
    node.norm and "rmsnorm " or "", D, k, E, F, D))
  e:line(("    %s(c->pool, &(lm_experts_args){\n        %s });"):format(name, table.concat(list, ",\n        ")))
  e:dump(node.outs[1])
end

return M
