-- logits: marks the model's output, logits [n, vocab]. It adds no node:
-- the op producing x writes the caller's logits buffer instead of the
-- arena (a linear does so for every position or for the last one only).

local M = { kind = "logits" }

function M.build(g, x)
  g:check_tensor("logits", x, "logits")
  if x.cols ~= g.cfg.vocab_size then
    g:fail("logits", ("width %d != vocab_size %d"):format(x.cols, g.cfg.vocab_size))
  end
  g.result = x
  x.name = "logits"
  return x
end

return M
