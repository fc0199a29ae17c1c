-- swiglu: silu(gate) * up, the gated MLP's activation (Llama, Qwen).
--
--   g:swiglu(gate, up [, name])
--
-- Fused into the gate and up linears' epilogue when both read one input;
-- see gated.lua, which it shares with ops/geglu.lua.

return require("gated").op("swiglu")
