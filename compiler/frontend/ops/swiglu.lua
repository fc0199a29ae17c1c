-- swiglu: silu(gate) * up, the gated MLP's activation.

local linear = require("ops.linear")
local rowwise = require("rowwise")

local M = { kind = "swiglu" }

function M.build(g, gate, up, name)
  g:check_tensor("swiglu", gate, "gate")
  g:check_tensor("swiglu", up, "up")
  if gate.cols ~= up.cols then
    g:fail("swiglu", ("gate width %d != up width %d"):format(gate.cols, up.cols))
  end
  return g:op("swiglu", { gate, up }, gate.cols, {}, name or ((gate.name or "x") .. ".swiglu"))
end

-- swiglu(linear(x), linear(x)) is one linear over both weights whose
-- epilogue is silu(g) * u: neither product is written out.
function M.absorb(op, f)
  local gl, ul = f:producer(op.inputs[1], "linear"), f:producer(op.inputs[2], "linear")
  if gl and ul and gl ~= ul and gl.inputs[1] == ul.inputs[1] and f:only_user(gl.out, op)
      and f:only_user(ul.out, op) and not gl.attrs.bias and not ul.attrs.bias then
    f:kill(gl)
    f:kill(ul)
    return linear.node({
      x = gl.inputs[1], act = "swiglu",
      parts = { { w = gl.attrs.w }, { w = ul.attrs.w } },
      outs = { op.out }, name = op.out.name, index = op.index,
    })
  end
  return nil
end

function M.emit(node, e)
  local K = node.out.cols
  rowwise.emit(node, e, ("lm_swiglu_task(arg, tid, nthreads, %d)"):format(K), ("swiglu of two [n, %d]"):format(K),
    rowwise.two_inputs(node, e))
end

return M
