-- softcap: y = cap * tanh(x / cap), Gemma's final logit softcapping
-- (final_logit_softcapping; transformers divides, takes tanh, multiplies).
--
--   g:softcap(x, cap [, name])
--
-- softcap(linear(x)), the softcap the linear's only reader, is that
-- linear capping each output in its epilogue: the head then writes capped
-- logits into the caller's buffer, for every position or the last only.
-- Otherwise it runs row-wise (lm_softcap_task in runtime/kernels/
-- elementwise.h), which cannot be the model's output: only a linear
-- writes the logits buffer.

local clit = require("clit")
local linear = require("ops.linear")
local rowwise = require("rowwise")

local M = { kind = "softcap" }

function M.build(g, x, cap, name)
  g:check_tensor("softcap", x, "input")
  g:check_number("softcap", cap, "cap", "positive")
  return g:op("softcap", { x }, x.cols, { cap = cap }, name or ((x.name or "x") .. ".softcap"))
end

function M.absorb(op, f)
  local p = f:producer(op.inputs[1], "linear")
  if p and f:only_user(p.out, op) then
    f:kill(p)
    return linear.with_softcap(p, op.attrs.cap, op)
  end
  if op.out == f.g.result then
    f.g:fail("softcap", ("as the model's output it must cap a linear's output that nothing else reads "
      .. "(the head then writes capped logits); '%s' is not one"):format(op.inputs[1].name or "?"))
  end
  return nil
end

function M.emit(node, e)
  local K = node.out.cols
  rowwise.emit(node, e, ("lm_softcap_task(arg, tid, nthreads, %d, %s)"):format(K, clit.float(node.attrs.cap)),
    ("softcap %s of [n, %d]"):format(clit.shortest(node.attrs.cap, true), K), ".a = " .. e:A(node.inputs[1]))
end

return M
