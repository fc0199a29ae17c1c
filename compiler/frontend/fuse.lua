-- Fusion: rewrites the script's op list into the nodes the kernels run.
--
-- The pass is generic; what fuses with what is declared by the ops
-- themselves (the hooks are described at the top of ops/add.lua):
--
--   1. absorb   in script order, an op may take in the ops producing its
--               inputs: swiglu and add take their linears as epilogues,
--               attention takes head_rmsnorm and rope of q and k
--   2. lower    every op left becomes a node or joins one: linears that
--               share an input become one node (q, k, v)
--   3. fold     a node may hand its work to its readers: an rmsnorm read
--               only by linears becomes their prologue
--
-- Whatever nothing claims runs alone with its own kernel.

local CompileError = require("errors")
local ops = require("ops")

local M = {}

-- What the ops' hooks see: the graph, and questions about it.
local Fusion = {}
Fusion.__index = Fusion

-- The op of the given kind that produces t, unless already absorbed.
function Fusion:producer(t, kind)
  local p = t.producer
  if p and p.kind == kind and not p.dead then return p end
  return nil
end

-- Is op the only reader of t?
function Fusion:only_user(t, op)
  return #t.users == 1 and t.users[1] == op
end

-- op was taken into another node: step 2 skips it.
function Fusion:kill(op)
  op.dead = true
end

-- A table the ops of one kind share during the pass.
function Fusion:state(kind)
  local s = self.states[kind]
  if not s then
    s = {}
    self.states[kind] = s
  end
  return s
end

-- op, unchanged, as a node that runs alone.
function Fusion:alone(op)
  op.reads = op.inputs
  op.outs = { op.out }
  op.name = op.out.name
  return op
end

-- For ops with no kernel of their own: an error when nothing took them in.
function Fusion:only_fused(op, into)
  CompileError.raise(("%s: %s (%s) only runs fused into %s; feed its output to g:%s"):format(
    self.g.script, op.kind, op.out.name, into, into))
end

-- The nodes that read t, in order (step 3).
function Fusion:readers(t)
  return self.readers_of[t] or {}
end

-- The op module of a node.
function Fusion:module(node)
  return ops.get(node.kind)
end

function M.run(g)
  local f = setmetatable({ g = g, states = {}, readers_of = {} }, Fusion)

  -- Step 1: absorb.
  local replaced = {}
  for _, op in ipairs(g.ops) do
    local m = ops.get(op.kind)
    if m.absorb then replaced[op] = m.absorb(op, f) end
  end

  -- Step 2: lower, keeping script order.
  local nodes = {}
  for _, op in ipairs(g.ops) do
    local node
    if replaced[op] then
      node = replaced[op]
    elseif not op.dead then
      local m = ops.get(op.kind)
      if m.lower then node = m.lower(op, f) else node = f:alone(op) end
    end
    if node then nodes[#nodes + 1] = node end
  end

  -- Step 3: fold.
  for _, node in ipairs(nodes) do
    for _, t in pairs(node.reads) do
      f.readers_of[t] = f.readers_of[t] or {}
      table.insert(f.readers_of[t], node)
    end
  end
  local final = {}
  for _, node in ipairs(nodes) do
    local m = ops.get(node.kind)
    if not (m.fold and m.fold(node, f)) then final[#final + 1] = node end
  end

  for _, node in ipairs(final) do
    if node.outs[1] == g.result then node.result = true end
  end
  g.fused = final
  return final
end

return M
