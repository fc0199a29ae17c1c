-- geglu: gelu_tanh(gate) * up, Gemma's gated MLP activation
-- (hidden_activation gelu_pytorch_tanh:
-- 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))).
--
--   g:geglu(gate, up [, name])
--
-- Fused into the gate and up linears' epilogue when both read one input,
-- as ops/swiglu.lua is (gated.lua); else runs row-wise.

return require("gated").op("geglu")
