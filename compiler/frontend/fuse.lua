-- Fusion: rewrites the script's op list into the ops the kernels run.
--
--   rmsnorm -> linear(s)          the norm becomes the linears' input prologue
--   linears sharing one input     one "matmul" with several parts (q, k, v)
--   swiglu(linear, linear)        one matmul whose epilogue is silu(g) * u
--   add(r, linear)                one matmul whose epilogue adds r
--   head_rmsnorm -> rope -> attention, for q and k
--                                 one attention op: norm, RoPE, cache write,
--                                 scores, online softmax and weighted sum
--
-- Whatever does not match stays a standalone op with its own kernel.

local CompileError = require("errors")

local M = {}

local function only_user(t, op)
  return #t.users == 1 and t.users[1] == op
end

local function producer(t, kind)
  local p = t.producer
  if p and p.kind == kind and not p.dead then return p end
  return nil
end

-- Follows q (or k) back through rope and head_rmsnorm while each step feeds
-- only the next one; returns the raw projection and what was absorbed.
local function absorb_qk(t, consumer)
  local info = {}
  local rope = producer(t, "rope")
  if rope and only_user(t, consumer) then
    info.rope = rope.attrs
    rope.dead = true
    consumer = rope
    t = rope.inputs[1]
  end
  local norm = producer(t, "head_rmsnorm")
  if norm and only_user(t, consumer) then
    info.norm = norm.attrs
    norm.dead = true
    t = norm.inputs[1]
  end
  return t, info
end

local function matmul_from_linear(lin)
  return {
    kind = "matmul", x = lin.inputs[1], parts = { { w = lin.attrs.w, bias = lin.attrs.bias } },
    outs = { lin.out }, name = lin.out.name, index = lin.index,
  }
end

function M.run(g)
  local ops = g.ops
  local fused = {}

  -- Pass 1: epilogues. swiglu(gate, up) and add(r, linear) absorb their linears.
  for _, op in ipairs(ops) do
    if op.kind == "swiglu" then
      local gl, ul = producer(op.inputs[1], "linear"), producer(op.inputs[2], "linear")
      if gl and ul and gl ~= ul and gl.inputs[1] == ul.inputs[1] and only_user(gl.out, op)
          and only_user(ul.out, op) and not gl.attrs.bias and not ul.attrs.bias then
        gl.dead, ul.dead = true, true
        fused[op] = {
          kind = "matmul", x = gl.inputs[1], act = "swiglu",
          parts = { { w = gl.attrs.w }, { w = ul.attrs.w } },
          outs = { op.out }, name = op.out.name, index = op.index,
        }
      end
    elseif op.kind == "add" then
      for side = 2, 1, -1 do
        local lin = producer(op.inputs[side], "linear")
        if lin and only_user(lin.out, op) and op.inputs[1] ~= op.inputs[2] then
          lin.dead = true
          fused[op] = {
            kind = "matmul", x = lin.inputs[1], residual = op.inputs[3 - side],
            parts = { { w = lin.attrs.w, bias = lin.attrs.bias } },
            outs = { op.out }, name = op.out.name, index = op.index,
          }
          break
        end
      end
    elseif op.kind == "attention" then
      local q, qi = absorb_qk(op.inputs[1], op)
      local k, ki = absorb_qk(op.inputs[2], op)
      if (qi.rope == nil) ~= (ki.rope == nil) or (qi.norm == nil) ~= (ki.norm == nil) then
        CompileError.raise(("%s: attention %s: q and k must get the same norm and rope"):format(
          g.script, op.out.name))
      end
      if qi.rope and (qi.rope.base ~= ki.rope.base or qi.rope.head_dim ~= op.attrs.head_dim
          or qi.rope.rot ~= ki.rope.rot or qi.rope.ntk ~= ki.rope.ntk) then
        CompileError.raise(("%s: attention %s: q and k rope settings differ"):format(g.script, op.out.name))
      end
      local a = op.attrs
      fused[op] = {
        kind = "attention", q = q, k = k, v = op.inputs[3], outs = { op.out },
        heads = a.heads, kv_heads = a.kv_heads, head_dim = a.head_dim, layer = a.layer,
        scale = a.scale, logn = a.logn,
        q_norm = qi.norm and qi.norm.w, k_norm = ki.norm and ki.norm.w,
        eps = qi.norm and qi.norm.eps or 0.0,
        rope = qi.rope, name = op.out.name, index = op.index,
      }
    end
  end

  -- Pass 2: rebuild the list; plain linears sharing an input merge into the
  -- first one's matmul (they read nothing that is not ready at that point).
  local out = {}
  local by_input = {}
  for _, op in ipairs(ops) do
    if fused[op] then
      out[#out + 1] = fused[op]
    elseif op.dead then
      -- absorbed above
    elseif op.kind == "linear" then
      local x = op.inputs[1]
      local mm = by_input[x]
      if mm and #mm.parts < 4 and op.out ~= g.result then
        mm.parts[#mm.parts + 1] = { w = op.attrs.w, bias = op.attrs.bias }
        mm.outs[#mm.outs + 1] = op.out
        mm.name = mm.name .. "+" .. op.out.name:match("[^.]*$")
      else
        mm = matmul_from_linear(op)
        out[#out + 1] = mm
        if op.out ~= g.result then by_input[x] = mm end
      end
    elseif op.kind == "rope" or op.kind == "head_rmsnorm" then
      CompileError.raise(("%s: %s (%s) only runs fused into attention; feed its output to g:attention"):format(
        g.script, op.kind, op.out.name))
    else
      out[#out + 1] = op
    end
  end

  -- Pass 3: an rmsnorm read only by matmuls becomes their prologue.
  local readers = {}
  for _, op in ipairs(out) do
    local ins = op.kind == "matmul" and { op.x, op.residual }
      or op.kind == "attention" and { op.q, op.k, op.v } or op.inputs or {}
    for _, t in pairs(ins) do
      readers[t] = readers[t] or {}
      table.insert(readers[t], op)
    end
  end
  local final = {}
  for _, op in ipairs(out) do
    if op.kind == "rmsnorm" then
      local rs = readers[op.out] or {}
      local all = #rs > 0
      for _, r in ipairs(rs) do
        if r.kind ~= "matmul" or r.x ~= op.out or r.residual == op.out or r.norm then all = false end
      end
      if all and op.out ~= g.result then
        for _, r in ipairs(rs) do
          r.norm = { w = op.attrs.w, eps = op.attrs.eps }
          r.x = op.inputs[1]
        end
      else
        final[#final + 1] = op
      end
    else
      final[#final + 1] = op
    end
  end

  for _, op in ipairs(final) do
    if op.kind == "matmul" and op.outs[1] == g.result then op.logits = true end
  end
  g.fused = final
  return final
end

return M
