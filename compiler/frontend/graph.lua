-- The graph IR: static shapes, f32 activations, weights by Hugging Face name.
--
-- Every activation is a matrix [n, cols] where n, the number of tokens in
-- one forward call, is the only dimension not fixed at compile time (1 for
-- decode up to the compiled batch for prefill). Ops are kept in the order
-- the script creates them, which is a valid execution order.

local CompileError = require("errors")

local Graph = {}
Graph.__index = Graph

local M = {}

function M.new(cfg, script)
  local g = setmetatable({
    cfg = cfg,
    script = script,    -- the architecture script's path, for messages
    ops = {},
    tensors = {},
    weights = {},       -- in first-use order
    weight_by_key = {},
    n_attention = 0,    -- KV-cache layers handed out so far
    result = nil,
  }, Graph)
  g.tokens = g:tensor(1, "tokens", "i32")
  return g
end

local function fail(g, op, msg)
  CompileError.raise(("%s: %s: %s; fix the architecture script or the config"):format(g.script, op, msg))
end

function Graph:tensor(cols, name, dtype)
  local t = { id = #self.tensors + 1, cols = cols, name = name, dtype = dtype or "f32", users = {} }
  self.tensors[#self.tensors + 1] = t
  return t
end

local function check_tensor(g, op, t, what)
  if type(t) ~= "table" or t.cols == nil then
    fail(g, op, ("%s is not a tensor"):format(what))
  end
end

local function check_int(g, op, v, what)
  if math.type(v) ~= "integer" or v <= 0 then
    fail(g, op, ("%s must be a positive integer, got %s"):format(what, tostring(v)))
  end
end

-- A weight slot. kind "matrix" takes the model's weight dtype; "vector"
-- (norm scales, biases) is always f32. init tells `lmcc synth` how to fill it.
-- A slot may bind only rows [row_begin, row_begin + shape[1]) of a larger
-- checkpoint tensor (see Graph:rows).
function Graph:weight(name, shape, kind, init, rows_of)
  if type(name) ~= "string" then
    fail(self, "weight", "weight name must be a string, got " .. type(name))
  end
  local src_rows = rows_of and rows_of.src_rows or shape[1]
  local row_begin = rows_of and rows_of.row_begin or 0
  local key = ("%s@%d"):format(name, row_begin)
  local w = self.weight_by_key[key]
  if w then
    if #w.shape ~= #shape or w.src_rows ~= src_rows then
      fail(self, "weight", ("'%s' used with two shapes"):format(name))
    end
    for i = 1, #shape do
      if w.shape[i] ~= shape[i] then
        fail(self, "weight", ("'%s' used as [%s] and as [%s]"):format(name,
          table.concat(w.shape, ", "), table.concat(shape, ", ")))
      end
    end
    return w
  end
  w = { name = name, shape = shape, kind = kind, init = init, src_rows = src_rows,
        row_begin = row_begin, src_shape = rows_of and rows_of.src_shape or shape }
  self.weights[#self.weights + 1] = w
  self.weight_by_key[key] = w
  return w
end

-- Declares that a checkpoint tensor is stored fused and returns a function
-- that names a row range of it: rows("c_attn.weight", {3*E, E})(E, 2*E)
-- is the slot holding rows E .. 2E-1. This is how fused QKV weights are
-- split without any C code knowing about them.
function Graph:rows(name, src_shape)
  return function(first, count)
    local shape = { count }
    for i = 2, #src_shape do shape[i] = src_shape[i] end
    return { name = name, shape = shape, src_rows = src_shape[1], row_begin = first,
             src_shape = src_shape }
  end
end

function Graph:op(kind, inputs, out_cols, attrs, name)
  local out = self:tensor(out_cols, name)
  local op = { kind = kind, inputs = inputs, out = out, attrs = attrs or {}, index = #self.ops + 1 }
  out.producer = op
  for _, t in ipairs(inputs) do t.users[#t.users + 1] = op end
  self.ops[#self.ops + 1] = op
  return out
end

local function strip_weight(name)
  return (name:gsub("%.weight$", ""))
end

-- Resolves a weight argument: a plain name, or a row range from Graph:rows.
local function matrix(g, op, ref, rows, cols, init)
  if type(ref) == "table" then
    if ref.shape[1] ~= rows or ref.shape[2] ~= cols then
      fail(g, op, ("'%s' rows %d+%d: expected [%d, %d], the slice is [%d, %d]"):format(
        ref.name, ref.row_begin, ref.shape[1], rows, cols, ref.shape[1], ref.shape[2]))
    end
    return g:weight(ref.name, ref.shape, "matrix", init, ref)
  end
  return g:weight(ref, { rows, cols }, "matrix", init)
end

local function vector(g, op, ref, len, init)
  if type(ref) == "table" then
    if ref.shape[1] ~= len then
      fail(g, op, ("'%s': expected %d values, the slice has %d"):format(ref.name, len, ref.shape[1]))
    end
    return g:weight(ref.name, ref.shape, "vector", init, ref)
  end
  return g:weight(ref, { len }, "vector", init)
end

local function ref_name(ref)
  return type(ref) == "table" and ("%s.rows%d"):format(ref.name, ref.row_begin) or ref
end

-- x[n, dim] = table[tokens]
function Graph:embedding(name, vocab, dim)
  check_int(self, "embedding", vocab, "vocab")
  check_int(self, "embedding", dim, "dim")
  local w = self:weight(name, { vocab, dim }, "matrix", "embedding")
  return self:op("embedding", { self.tokens }, dim, { w = w }, strip_weight(name))
end

-- RMSNorm over each row, in f32: x * rsqrt(mean(x^2) + eps) * w
function Graph:rmsnorm(x, name, eps)
  check_tensor(self, "rmsnorm", x, "input")
  local w = vector(self, "rmsnorm", name, x.cols, "norm")
  return self:op("rmsnorm", { x }, x.cols, { w = w, eps = eps }, strip_weight(ref_name(name)))
end

-- RMSNorm over each head_dim-wide slice of a row (Qwen3's q_norm / k_norm).
function Graph:head_rmsnorm(x, name, head_dim, eps)
  check_tensor(self, "head_rmsnorm", x, "input")
  check_int(self, "head_rmsnorm", head_dim, "head_dim")
  if x.cols % head_dim ~= 0 then
    fail(self, "head_rmsnorm", ("input width %d is not a multiple of head_dim %d"):format(x.cols, head_dim))
  end
  local w = vector(self, "head_rmsnorm", name, head_dim, "norm")
  return self:op("head_rmsnorm", { x }, x.cols, { w = w, eps = eps, head_dim = head_dim },
    strip_weight(ref_name(name)))
end

-- y[n, out] = x[n, in] @ W[out, in]^T (+ bias[out])
function Graph:linear(x, name, out_features, opts)
  check_tensor(self, "linear", x, "input")
  check_int(self, "linear", out_features, "out_features")
  opts = opts or {}
  local w = matrix(self, "linear", name, out_features, x.cols, "matrix")
  local b = opts.bias and vector(self, "linear", opts.bias, out_features, "bias") or nil
  return self:op("linear", { x }, out_features, { w = w, bias = b }, strip_weight(ref_name(name)))
end

-- Rotary position embedding on each head_dim-wide slice, rotate-half
-- pairing (i, i + rot/2), inv_freq = 1 / base^(2i/rot). opts.rot_dim rotates
-- only the first rot_dim dims of each head (default all); opts.ntk =
-- seq_length turns on Qwen1's dynamic NTK scaling of the base.
function Graph:rope(x, head_dim, base, opts)
  check_tensor(self, "rope", x, "input")
  opts = opts or {}
  if x.cols % head_dim ~= 0 then
    fail(self, "rope", ("input width %d is not a multiple of head_dim %d"):format(x.cols, head_dim))
  end
  local rot = opts.rot_dim or head_dim
  if rot % 2 ~= 0 or rot < 2 or rot > head_dim or rot > 512 then
    fail(self, "rope", ("rotary dims must be even, in [2, head_dim] and at most 512, got %s"):format(tostring(rot)))
  end
  return self:op("rope", { x }, x.cols, { head_dim = head_dim, base = base + 0.0, rot = rot,
    ntk = opts.ntk }, (x.name or "x") .. ".rope")
end

-- Causal grouped-query attention over this layer's KV cache: k and v of
-- the n new tokens are appended, then each query attends to every cached
-- position up to its own.
function Graph:attention(q, k, v, p, name)
  for _, t in ipairs({ { q, "q" }, { k, "k" }, { v, "v" } }) do check_tensor(self, "attention", t[1], t[2]) end
  check_int(self, "attention", p.heads, "heads")
  check_int(self, "attention", p.kv_heads, "kv_heads")
  check_int(self, "attention", p.head_dim, "head_dim")
  if p.heads % p.kv_heads ~= 0 then
    fail(self, "attention", ("heads %d is not a multiple of kv_heads %d"):format(p.heads, p.kv_heads))
  end
  -- The runtime's attention keeps a group's queries side by side
  -- (LM_ATTN_MAX_GROUP in runtime/kernels.h).
  if p.heads // p.kv_heads > 16 then
    fail(self, "attention", ("heads / kv_heads = %d query heads per kv head, more than the 16 the runtime supports")
      :format(p.heads // p.kv_heads))
  end
  if q.cols ~= p.heads * p.head_dim then
    fail(self, "attention", ("q has width %d, expected heads*head_dim = %d"):format(q.cols, p.heads * p.head_dim))
  end
  for _, t in ipairs({ { k, "k" }, { v, "v" } }) do
    if t[1].cols ~= p.kv_heads * p.head_dim then
      fail(self, "attention", ("%s has width %d, expected kv_heads*head_dim = %d"):format(
        t[2], t[1].cols, p.kv_heads * p.head_dim))
    end
  end
  local layer = self.n_attention
  self.n_attention = layer + 1
  return self:op("attention", { q, k, v }, q.cols, {
    heads = p.heads, kv_heads = p.kv_heads, head_dim = p.head_dim, layer = layer,
    -- logn = seq_length scales queries past it by log(pos + 1) / log(seq_length).
    scale = p.scale or 1.0 / math.sqrt(p.head_dim), logn = p.logn,
  }, name or ("attention.%d"):format(layer))
end

-- silu(gate) * up
function Graph:swiglu(gate, up, name)
  check_tensor(self, "swiglu", gate, "gate")
  check_tensor(self, "swiglu", up, "up")
  if gate.cols ~= up.cols then
    fail(self, "swiglu", ("gate width %d != up width %d"):format(gate.cols, up.cols))
  end
  return self:op("swiglu", { gate, up }, gate.cols, {}, name or ((gate.name or "x") .. ".swiglu"))
end

-- a + b (the residual stream)
function Graph:add(a, b, name)
  check_tensor(self, "add", a, "a")
  check_tensor(self, "add", b, "b")
  if a.cols ~= b.cols then
    fail(self, "add", ("widths differ: %d and %d"):format(a.cols, b.cols))
  end
  return self:op("add", { a, b }, a.cols, {}, name or ((b.name or "x") .. ".residual"))
end

-- Marks the model's output: logits [n, vocab].
function Graph:logits(x)
  check_tensor(self, "logits", x, "logits")
  if x.cols ~= self.cfg.vocab_size then
    fail(self, "logits", ("width %d != vocab_size %d"):format(x.cols, self.cfg.vocab_size))
  end
  self.result = x
  x.name = "logits"
  return x
end

M.Graph = Graph
return M
