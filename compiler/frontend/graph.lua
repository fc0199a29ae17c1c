-- The graph IR: static shapes, f32 activations, weights by Hugging Face name.
--
-- Every activation is a matrix [n, cols] where n, the number of tokens in
-- one forward call, is the only dimension not fixed at compile time (1 for
-- decode up to the compiled batch for prefill). Ops are kept in the order
-- the script creates them, which is a valid execution order.
--
-- This file is the core every op builds on: tensors, weight slots and the
-- checks builders share. The ops themselves (g:linear, g:attention, ...)
-- are files in ops/, found by name when a script calls them.

local CompileError = require("errors")
local ops = require("ops")

local Graph = {}

-- g.<kind> is a Graph method if there is one, else the builder of
-- ops/<kind>.lua; anything else reads as nil, as a plain table would.
local function lookup(_, key)
  local method = Graph[key]
  if method ~= nil then return method end
  local op = ops.find(key)
  return op and op.build
end

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
    result = false,     -- the logits tensor, once g:logits has marked it
    skipped = { prefixes = {} }, -- checkpoint tensors the model does not read (Graph:skip_tensors)
  }, { __index = lookup })
  g.tokens = g:tensor(1, "tokens", "i32")
  return g
end

-- One error line naming the script, the op and what is wrong.
function Graph:fail(op, msg)
  CompileError.raise(("%s: %s: %s; fix the architecture script or the config"):format(self.script, op, msg))
end

function Graph:check_tensor(op, t, what)
  if type(t) ~= "table" or t.cols == nil then
    self:fail(op, ("%s is not a tensor"):format(what))
  end
end

function Graph:check_int(op, v, what)
  if math.type(v) ~= "integer" or v <= 0 then
    self:fail(op, ("%s must be a positive integer, got %s"):format(what, tostring(v)))
  end
end

-- v must be a finite number (want "number") or a finite number > 0 (want
-- "positive"); what names it in the error.
function Graph:check_number(op, v, what, want)
  local finite = type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge
  if not finite or (want == "positive" and v <= 0) then
    self:fail(op, ("%s must be a %s number, got %s"):format(what,
      want == "positive" and "positive finite" or "finite", tostring(v)))
  end
end

-- An op's options table (nil: none), each key checked against spec, which
-- maps a key to a check of its value: number (any finite number) or
-- positive (a finite number > 0). A misspelt key is an error, not ignored.
function Graph:options(op, opts, spec)
  if opts == nil then return {} end
  if type(opts) ~= "table" then self:fail(op, "options must be a table, got " .. type(opts)) end
  local keys = {}
  for k in pairs(opts) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local want, v = spec[k], opts[k]
    if not want then
      local known = {}
      for name in pairs(spec) do known[#known + 1] = name end
      table.sort(known)
      self:fail(op, ("unknown option '%s'; options: %s"):format(k, table.concat(known, ", ")))
    end
    self:check_number(op, v, "option " .. k, want)
  end
  return opts
end

function Graph:tensor(cols, name, dtype)
  local t = { id = #self.tensors + 1, cols = cols, name = name, dtype = dtype or "f32", users = {} }
  self.tensors[#self.tensors + 1] = t
  return t
end

-- A weight slot. kind "matrix" takes the model's weight dtype; "vector"
-- (norm scales, biases) is always f32. init tells `lmcc synth` how to fill it.
-- A slot may bind only rows [row_begin, row_begin + shape[1]) of a larger
-- checkpoint tensor (see Graph:rows). offset (default 0) is added to each
-- value as the runtime binds it: one tensor with two offsets is two slots.
function Graph:weight(name, shape, kind, init, rows_of, offset)
  if type(name) ~= "string" then
    self:fail("weight", "weight name must be a string, got " .. type(name))
  end
  local src_rows = rows_of and rows_of.src_rows or shape[1]
  local row_begin = rows_of and rows_of.row_begin or 0
  offset = offset or 0
  local key = ("%s@%d"):format(name, row_begin)
  if offset ~= 0 then key = ("%s+%.17g"):format(key, offset) end
  local w = self.weight_by_key[key]
  if w then
    if #w.shape ~= #shape or w.src_rows ~= src_rows then
      self:fail("weight", ("'%s' used with two shapes"):format(name))
    end
    for i = 1, #shape do
      if w.shape[i] ~= shape[i] then
        self:fail("weight", ("'%s' used as [%s] and as [%s]"):format(name,
          table.concat(w.shape, ", "), table.concat(shape, ", ")))
      end
    end
    return w
  end
  w = { name = name, shape = shape, kind = kind, init = init, src_rows = src_rows,
        row_begin = row_begin, src_shape = rows_of and rows_of.src_shape or shape, offset = offset }
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

-- A weight matrix [rows, cols] for op: a plain name, or a row range from
-- Graph:rows whose shape must match.
function Graph:matrix(op, ref, rows, cols, init)
  if type(ref) == "table" then
    if ref.shape[1] ~= rows or ref.shape[2] ~= cols then
      self:fail(op, ("'%s' rows %d+%d: expected [%d, %d], the slice is [%d, %d]"):format(
        ref.name, ref.row_begin, ref.shape[1], rows, cols, ref.shape[1], ref.shape[2]))
    end
    return self:weight(ref.name, ref.shape, "matrix", init, ref)
  end
  return self:weight(ref, { rows, cols }, "matrix", init)
end

-- A weight vector of len values (norm scale, bias), named or a row range,
-- with offset added to each value when bound (see Graph:weight).
function Graph:vector(op, ref, len, init, offset)
  if type(ref) == "table" then
    if ref.shape[1] ~= len then
      self:fail(op, ("'%s': expected %d values, the slice has %d"):format(ref.name, len, ref.shape[1]))
    end
    return self:weight(ref.name, ref.shape, "vector", init, ref, offset)
  end
  return self:weight(ref, { len }, "vector", init, nil, offset)
end

-- A norm's scale vector: with options.offset (Gemma's 1.0) the model
-- scales by offset + w, bound as such, so every kernel that takes a norm
-- weight serves it. `lmcc synth` fills such a weight around zero, so the
-- scale varies around one as other models' norms do.
function Graph:norm_weight(op, ref, len, opts)
  local offset = self:options(op, opts, { offset = "number" }).offset or 0
  return self:vector(op, ref, len, offset ~= 0 and "norm_delta" or "norm", offset)
end

-- The activation name an op's output takes from its weight:
-- "model.norm.weight" -> "model.norm", a row range -> "<tensor>.rows<first>".
function Graph:weight_tensor_name(ref)
  local name = type(ref) == "table" and ("%s.rows%d"):format(ref.name, ref.row_begin) or ref
  return (name:gsub("%.weight$", ""))
end

-- Declares checkpoint tensors this model never reads, by name prefix, and
-- why: a multimodal checkpoint's image encoder beside the text model the
-- script compiles. The runtime leaves them unread and says so in a note,
-- where a tensor no slot uses is otherwise an error. One declaration a
-- model; its prefixes must not hold any weight the script does read.
function Graph:skip_tensors(prefixes, why)
  if self.skipped.why then self:fail("skip_tensors", "declared twice; list every prefix in one call") end
  if type(prefixes) ~= "table" or #prefixes == 0 then
    self:fail("skip_tensors", "the first argument must be a list of tensor name prefixes")
  end
  if type(why) ~= "string" or why == "" then
    self:fail("skip_tensors", "the second argument must say what the skipped tensors are")
  end
  for i, p in ipairs(prefixes) do
    if type(p) ~= "string" or p == "" then
      self:fail("skip_tensors", ("prefix %d must be a non-empty string, got %s"):format(i, tostring(p)))
    end
    self.skipped.prefixes[i] = p
  end
  self.skipped.why = why
end

-- A weight under a skipped prefix would never bind: an error, at the end,
-- when every weight is known.
function Graph:check_skipped()
  for _, w in ipairs(self.weights) do
    for _, p in ipairs(self.skipped.prefixes) do
      if w.name:sub(1, #p) == p then
        self:fail("skip_tensors", ("prefix '%s' covers the weight '%s' the model reads"):format(p, w.name))
      end
    end
  end
end

-- Appends an op of the given kind: its inputs, its output [n, out_cols]
-- and the attributes its fusion and emission read.
function Graph:op(kind, inputs, out_cols, attrs, name)
  local out = self:tensor(out_cols, name)
  local op = { kind = kind, inputs = inputs, out = out, attrs = attrs or {}, index = #self.ops + 1 }
  out.producer = op
  for _, t in ipairs(inputs) do t.users[#t.users + 1] = op end
  self.ops[#self.ops + 1] = op
  return out
end

M.Graph = Graph
return M
