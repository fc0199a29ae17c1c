-- The gated MLP activations, act(gate) * up: ops/swiglu.lua (silu) and
-- ops/geglu.lua (gelu_tanh) are each this op with its activation. Both
-- fuse alike: act(linear(x), linear(x)) is one linear over both weights
-- whose epilogue computes act(g) * u (ops/linear.lua, mode MODES[kind]);
-- otherwise a row-wise kernel, lm_<kind>_task in runtime/kernels/elementwise.h.

local linear = require("ops.linear")
local rowwise = require("rowwise")

local M = {}

-- The op module for kind ("swiglu", "geglu").
function M.op(kind)
  local op = { kind = kind }

  -- g:<kind>(gate, up [, name])
  function op.build(g, gate, up, name)
    g:check_tensor(kind, gate, "gate")
    g:check_tensor(kind, up, "up")
    if gate.cols ~= up.cols then
      g:fail(kind, ("gate width %d != up width %d"):format(gate.cols, up.cols))
    end
    return g:op(kind, { gate, up }, gate.cols, {}, name or ((gate.name or "x") .. "." .. kind))
  end

  -- Neither product is written out.
  function op.absorb(o, f)
    local gl, ul = f:producer(o.inputs[1], "linear"), f:producer(o.inputs[2], "linear")
    if gl and ul and gl ~= ul and gl.inputs[1] == ul.inputs[1] and f:only_user(gl.out, o)
        and f:only_user(ul.out, o) and not gl.attrs.bias and not ul.attrs.bias then
      f:kill(gl)
      f:kill(ul)
      return linear.node({
        x = gl.inputs[1], act = kind,
        parts = { { w = gl.attrs.w }, { w = ul.attrs.w } },
        outs = { o.out }, name = o.out.name, index = o.index,
      })
    end
    return nil
  end

  function op.emit(node, e)
    local K = node.out.cols
    rowwise.emit(node, e, ("lm_%s_task(arg, tid, nthreads, %d)"):format(kind, K),
      ("%s of two [n, %d]"):format(kind, K), rowwise.two_inputs(node, e))
  end

  return op
end

return M
