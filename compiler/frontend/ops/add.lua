-- add: a + b, the residual stream.
--
-- This file is the template for an op; copy it to add one. An op is one
-- file, ops/<kind>.lua, returning a table with its kind and these hooks
-- (every hook but build is optional):
--
--   build(g, ...)        g:<kind>(...) in an architecture script. Checks its
--                        arguments and shapes with g:check_tensor,
--                        g:check_int and g:fail (one error line naming the
--                        script and the op), declares weights with
--                        g:matrix / g:vector, and returns
--                        g:op(kind, inputs, out_cols, attrs, name).
--   absorb(op, f)        fusion, step 1, in script order: may take in the
--                        ops that produce its inputs (f:producer,
--                        f:only_user, f:kill) and return the node that runs
--                        instead of op; nil leaves op as it is.
--   lower(op, f)         step 2, for ops step 1 neither replaced nor killed:
--                        returns the node to run, or nil when op joined a
--                        node already placed (f:state keeps what ops of one
--                        kind share). Without it the op runs alone
--                        (f:alone(op)); an op with no kernel of its own
--                        calls f:only_fused(op, into).
--   fold(node, f)        step 3: may hand node's work to the nodes that read
--                        its output (f:readers, f:module) and return true to
--                        drop it.
--   emit(node, e)        writes the node's kernel instance
--                        (e:instance(base, template, vars)) and its call in
--                        the forward pass (e:line, e:A, e:W, e:dump), and
--                        counts its scratch (e:scratch) and, for weights it
--                        reads per token, e.params and e.weight_bytes.
--
-- Any other field is the op's own (ops/linear.lua exports node() for the
-- ops that fuse into a linear). fuse.lua and emit.lua define f and e.
--
-- A node is what the kernels run: { kind, reads = { tensors }, outs =
-- { tensors }, name, index, ... } plus what its emitter needs; an op that
-- runs alone is its own node. Kernels are C in runtime/kernels/, reached
-- through a template in templates/ that the emitter fills.

local ops = require("ops")
local rowwise = require("rowwise")

local M = { kind = "add" }

function M.build(g, a, b, name)
  g:check_tensor("add", a, "a")
  g:check_tensor("add", b, "b")
  if a.cols ~= b.cols then
    g:fail("add", ("widths differ: %d and %d"):format(a.cols, b.cols))
  end
  return g:op("add", { a, b }, a.cols, {}, name or ((b.name or "x") .. ".residual"))
end

-- add(r, p(x)) where p's op can add a residual in its epilogue (a linear,
-- the experts) is that op writing p(x) + r: the sum is written once instead
-- of the product being written and read back. The op's with_residual hook
-- returns the node.
function M.absorb(op, f)
  if op.inputs[1] == op.inputs[2] then return nil end
  for side = 2, 1, -1 do
    local p = op.inputs[side].producer
    local m = p and not p.dead and ops.find(p.kind)
    if m and m.with_residual and f:only_user(p.out, op) then
      f:kill(p)
      return m.with_residual(p, op.inputs[3 - side], op)
    end
  end
  return nil
end

function M.emit(node, e)
  local K = node.out.cols
  rowwise.emit(node, e, ("lm_add_task(arg, tid, nthreads, %d)"):format(K), ("add of two [n, %d]"):format(K),
    rowwise.two_inputs(node, e))
end

return M
