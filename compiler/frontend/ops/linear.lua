-- linear: y[n, out] = x[n, in] @ W[out, in]^T (+ bias[out]).
--
-- After fusion a linear node is one matrix product over up to four weights
-- that read the same input (q, k and v; gate and up), with optional work on
-- either side of it, all done while the input rows or output tiles are in
-- registers or cache:
--   norm       an rmsnorm of x, the prologue (ops/rmsnorm.lua folds it in)
--   act        "swiglu" or "geglu": the output is act(part 1) * part 2
--              (ops/swiglu.lua, ops/geglu.lua)
--   residual   a tensor added to the output (ops/add.lua)
--   softcap    cap: the output is cap * tanh(y / cap) (ops/softcap.lua)
--   result     the model's logits: written to the caller's buffer, for
--              every position or only the last
-- Its kernel is lm_linear_task in runtime/kernels/linear.h.

local clit = require("clit")

local M = { kind = "linear" }

-- The most weights one node multiplies with (LM_MAX_PARTS in the kernels).
local MAX_PARTS = 4

-- A gated act: its lm_linear_mode (runtime/kernels/linear_epilogue.h) and
-- what it computes.
local ACTS = {
  swiglu = { mode = "LM_LINEAR_SWIGLU", doc = "silu(gate) * up" },
  geglu = { mode = "LM_LINEAR_GEGLU", doc = "gelu_tanh(gate) * up" },
}

function M.build(g, x, name, out_features, opts)
  g:check_tensor("linear", x, "input")
  g:check_int("linear", out_features, "out_features")
  opts = opts or {}
  local w = g:matrix("linear", name, out_features, x.cols, "matrix")
  -- precise: the weight keeps bf16 in a quantized build (a router's).
  if opts.precise then w.precise = true end
  local b = opts.bias and g:vector("linear", opts.bias, out_features, "bias") or nil
  return g:op("linear", { x }, out_features, { w = w, bias = b }, g:weight_tensor_name(name))
end

-- A linear node: spec holds x, parts ({ w, bias } each), outs, name, index
-- and optionally act, residual and softcap.
function M.node(spec)
  spec.kind = "linear"
  spec.reads = { spec.x, spec.residual }
  return spec
end

-- Linears that read one input join the first one's node, which runs where
-- that first linear stood: all of them read nothing that is not ready there.
-- The logits stay alone, since they write the caller's buffer.
function M.lower(op, f)
  local x = op.inputs[1]
  local by_input = f:state("linear")
  local mm = by_input[x]
  if mm and #mm.parts < MAX_PARTS and op.out ~= f.g.result and not mm.parts[1].w.precise == not op.attrs.w.precise then
    mm.parts[#mm.parts + 1] = { w = op.attrs.w, bias = op.attrs.bias }
    mm.outs[#mm.outs + 1] = op.out
    mm.name = mm.name .. "+" .. op.out.name:match("[^.]*$")
    return nil
  end
  mm = M.node({ x = x, parts = { { w = op.attrs.w, bias = op.attrs.bias } }, outs = { op.out },
                name = op.out.name, index = op.index })
  if op.out ~= f.g.result then by_input[x] = mm end
  return mm
end

-- ops/rmsnorm.lua: may this node normalize t, its input, itself?
function M.accepts_norm(node, t)
  return node.x == t and node.residual ~= t and not node.norm
end

-- The node of linear op's one weight, running where the op `by` that took
-- it in stood and writing by's output, with by's epilogue field set.
local function taken_in(op, by, field, value)
  local node = M.node({
    x = op.inputs[1], parts = { { w = op.attrs.w, bias = op.attrs.bias } },
    outs = { by.out }, name = by.out.name, index = by.index,
  })
  node[field] = value
  return node
end

-- ops/add.lua: add(residual, linear(x)) is this linear with the residual
-- added in its epilogue.
function M.with_residual(op, residual, add_op)
  local node = taken_in(op, add_op, "residual", residual)
  node.reads[2] = residual
  return node
end

-- ops/softcap.lua: softcap(linear(x)) is this linear, one weight, capping
-- its output in its epilogue (the head writes capped logits).
function M.with_softcap(op, cap, softcap_op)
  return taken_in(op, softcap_op, "softcap", cap)
end

function M.take_norm(node, norm, src)
  node.norm = norm
  node.x = src
  node.reads[1] = src
end

-- What a batch's linears multiply with, as the kernels name it
-- (runtime/kernels/linear_bf16.h), for the whole model: the benchmarks count
-- the prefill against that kernel's peak.
function M.matmul_kernel(e)
  return M.quantized(e) and "LM_QBATCH_KERNEL"
    or e.xbf16 and "LM_BF16_KERNEL"
    or e.dtype == "bf16" and "LM_F32_BF16W_KERNEL"
    or e.dtype == "f16" and "LM_F32_SPLITW_KERNEL"
    or '"f32-fma"'
end

-- q8_0, q4_0 and q4_k8 weights take their input quantized to int8 (linear_quant.h).
function M.quantized(e)
  return e.dtype == "q8_0" or e.dtype == "q4_0" or e.dtype == "q4_k8"
end

-- Per-thread scratch floats of one lm_linear_task call over up to e.batch
-- rows of width K with weights of dtype: the normalized input, then for
-- q8_0 and q4_0 the input quantized (LM_QX_BYTES(K) = 5K/4 bytes a token,
-- in whole 16-token tiles) and two unpacked 16-row panels for AMX
-- (LM_QAMX_SCRATCH_BYTES: 640 bytes a 32-block, 10K floats), else the
-- bf16-rounded input and 32 packed weight rows (two blocks when gated);
-- see lm_linear_task. bf16 and f16 weights also take f32 inputs to AMX
-- tiles, in two bf16 parts.
function M.scratch_floats(e, dtype, K, norm, gated)
  local norm_floats = norm and e.batch * K or 0
  if M.quantized({ dtype = dtype }) then
    return norm_floats + (e.batch + 15) // 16 * 16 * (K * 5 // 16) + 10 * K
  end
  local bf16_input_region = M.matmul_kernel(e) ~= '"f32-fma"'
  return norm_floats + (bf16_input_region and (e.batch + 32) * K or 0) + (gated and 2 or 1) * 32 * K
end

function M.emit(node, e)
  -- The node's weights' dtype: the build's, or bf16 for a precise one.
  local dtype, xbf16 = node.parts[1].w.dtype, e.xbf16
  local K = node.x.cols
  local outs, outs_doc, ws, bs, ys = {}, {}, {}, {}, {}
  for i, p in ipairs(node.parts) do
    outs[i] = tostring(p.w.shape[1])
    ws[i] = e:W(p.w)
    bs[i] = p.bias and e:W(p.bias) or "NULL"
    e.params = e.params + p.w.shape[1] * K
    if node.result then e.head_params = e.head_params + p.w.shape[1] * K end
    e.weight_bytes = e.weight_bytes + e:bytes_of(p.w)
  end
  for i, t in ipairs(node.outs) do
    ys[i] = node.result and "logits" or e:A(t)
    outs_doc[i] = ("[n, %d]"):format(t.cols)
  end
  local act = node.act and ACTS[node.act]
  local base = ("linear_%d_%s_%s%s%s%s"):format(K, table.concat(outs, "_"), dtype,
    node.norm and "_norm" or "", act and "_" .. node.act or "", xbf16 and "_xbf16" or "")
  local name = e:instance(base, "linear.c.in", {
    K = K, NPARTS = #node.parts, OUTS = table.concat(outs, ", "), DTYPE = dtype,
    DTYPE_ENUM = e.dtype_enum[dtype], MODE = act and act.mode or "LM_LINEAR_PLAIN", XBF16 = xbf16 and 1 or 0,
    XBF16_DOC = xbf16 and ", inputs rounded to bf16" or "",
    EPS = node.norm and clit.float(node.norm.eps) or "0.0f",
    NORM_DOC = node.norm and " rmsnorm" or "",
    OUTS_DOC = table.concat(outs_doc, " "),
    MODE_DOC = act and ", " .. act.doc or "",
  })
  e:scratch(M.scratch_floats(e, dtype, K, node.norm ~= nil, act ~= nil))
  local fields = {}
  fields[#fields + 1] = ".x = " .. e:A(node.x)
  if node.norm then fields[#fields + 1] = ".norm_w = " .. e:W(node.norm.w) end
  fields[#fields + 1] = ".w = { " .. table.concat(ws, ", ") .. " }"
  local any_bias = false
  for _, b in ipairs(bs) do if b ~= "NULL" then any_bias = true end end
  if any_bias then fields[#fields + 1] = ".bias = { " .. table.concat(bs, ", ") .. " }" end
  fields[#fields + 1] = ".y = { " .. table.concat(ys, ", ") .. " }"
  if node.residual then fields[#fields + 1] = ".residual = " .. e:A(node.residual) end
  if node.softcap then fields[#fields + 1] = ".softcap = " .. clit.float(node.softcap) end
  fields[#fields + 1] = ".scratch = c->scratch, .scratch_stride = SCRATCH_FLOATS"
  -- The head runs every row only when all logits are asked for; else each
  -- span's last row, gathered to the front (the input's last use).
  fields[#fields + 1] = node.result and (".n = all_logits ? n : lm_span_last_rows(%s, %d, b)"):format(e:A(node.x), K)
    or ".n = n"
  e:line(("    /* %s: %s%s -> %s%s */"):format(node.name, node.norm and "rmsnorm " or "",
    ("[n, %d]"):format(K), table.concat(outs_doc, " "),
    node.softcap and (", softcap %s"):format(clit.shortest(node.softcap, true)) or ""))
  e:line(("    lm_pool_run(c->pool, %s, &(lm_linear_args){\n        %s });"):format(
    name, table.concat(fields, ",\n        ")))
  if not node.result then
    for _, t in ipairs(node.outs) do e:dump(t) end
  end
end

return M
