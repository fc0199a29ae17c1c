-- The emitter: the model's files around the forward pass. It numbers the
-- weight slots, writes the config checks and the constants, plans the
-- arena, and has each node's op write its part (the emit hooks in ops/);
-- then fills templates/model.*.in and main.c.in.
--
-- Output is a pure function of the graph: no timestamps, no hash-order
-- iteration, floats printed with enough digits to round-trip, so the same
-- config and lmcc version always give byte-identical files.

local CompileError = require("errors")
local clit = require("clit")
local ops = require("ops")
local plan = require("plan")

local M = {}

local DTYPE_ENUM = { f32 = "LM_F32", bf16 = "LM_BF16", f16 = "LM_F16", q8_0 = "LM_Q8_0", q4_0 = "LM_Q4_0", q4_k8 = "LM_Q4_K8" }
local QUANTIZED = { q8_0 = true, q4_0 = true, q4_k8 = true }
local DTYPE_BYTES = { f32 = 4, bf16 = 2, f16 = 2, q8_0 = 34 / 32, q4_0 = 18 / 32, q4_k8 = 148 / 256 }

local function read_template(dir, name)
  local path = dir .. "/" .. name
  local f, err = io.open(path, "rb")
  if not f then CompileError.raise(("%s: cannot read template: %s"):format(path, err)) end
  local s = f:read("a")
  f:close()
  return s
end

-- Replaces every {{KEY}}; a key without a value is a bug in the emitter.
local function fill(tpl, vars, what)
  return (tpl:gsub("{{([%w_]+)}}", function(k)
    local v = vars[k]
    if v == nil then error(("template %s: no value for {{%s}}"):format(what, k)) end
    return tostring(v)
  end))
end

-- What an op's emit hook writes with (see ops/add.lua): the build's
-- settings, the forward pass being written, the kernel instances, and the
-- totals the model descriptor reports.
local Emitter = {}
Emitter.__index = Emitter

function Emitter:template(name)
  local t = self.templates[name]
  if not t then
    t = read_template(self.template_dir, name)
    self.templates[name] = t
  end
  return t
end

-- The name of a kernel instance of templates/<template> filled with vars,
-- written once per distinct text: ops of one shape share one instance.
function Emitter:instance(base, template, vars)
  local tpl = self:template(template)
  local key = base .. "\0" .. fill(tpl, setmetatable({ NAME = "@" }, { __index = vars }), base)
  if self.kernels[key] then return self.kernels[key] end
  local name = base
  local k = 2
  while self.kernel_names[name] do name = ("%s_%d"):format(base, k); k = k + 1 end
  self.kernel_names[name] = true
  vars.NAME = name
  self.kernels[key] = name
  self.kernel_list[#self.kernel_list + 1] = fill(tpl, vars, base)
  return name
end

-- An activation's address in the arena, a weight slot's pointer.
function Emitter:A(t) return ("A + %d"):format(t.offset) end
function Emitter:W(w) return ("W[%d]"):format(w.slot) end

-- A line of the forward pass.
function Emitter:line(s) self.body[#self.body + 1] = s end

-- The --dump call for an activation.
function Emitter:dump(t, rows_expr)
  self:line(("    if (c->dump) c->dump(c->dump_user, %s, %s, %s, %d);"):format(
    clit.string(t.name), self:A(t), rows_expr or "n", t.cols))
end

-- Per-thread scratch floats a kernel needs; the model reserves the most.
function Emitter:scratch(floats)
  self.scratch_floats = math.max(self.scratch_floats, floats)
end

-- Bytes of a weight slot as compiled.
function Emitter:bytes_of(w)
  local n = 1
  for _, d in ipairs(w.shape) do n = n * d end
  return math.floor(n * DTYPE_BYTES[w.dtype] + 0.5)
end

function M.run(g, opts)
  local cfg = g.cfg
  local dtype = cfg.dtype
  local e = setmetatable({
    dtype = dtype, dtype_enum = DTYPE_ENUM, batch = opts.batch, ctx = opts.ctx,
    -- lmcc build --matmul-input bf16: linears round their inputs to bf16.
    xbf16 = opts.matmul_input == "bf16",
    -- lmcc build --kv-dtype bf16: the KV cache holds bf16 keys and values.
    kv16 = opts.kv_dtype == "bf16",
    -- Attention's products from bf16 (queries and probabilities rounded,
    -- as transformers' bf16 attention rounds them) where the cache is bf16
    -- and the linears' inputs are not f32: bf16 builds by default, and
    -- quantized ones (int8 inputs) with a bf16 cache. Their batch kernels
    -- run on AMX tiles or vdpbf16ps (runtime/kernels/attention_amx.h,
    -- attention_dpbf16.h).
    abf16 = opts.kv_dtype == "bf16" and (opts.matmul_input == "bf16" or dtype == "q8_0" or dtype == "q4_0"
      or dtype == "q4_k8"),
    template_dir = opts.templates, templates = {},
    kernels = {}, kernel_names = {}, kernel_list = {}, body = {},
    scratch_floats = 0, params = 0, head_params = 0, weight_bytes = 0, kv_floats = 0,
    moe_layers = 0, moe_experts = 0, rope_ntk = 0,
    -- Sliding windows (ops/attention.lua): the window layers' share of
    -- kv_floats, floats per cached position with and without a window.
    kv_window_floats = 0, kv_window_per_position = 0, kv_full_per_position = 0, window = 0, window_slack = -1,
  }, Emitter)
  for _, name in ipairs({ "model.c.in", "model.h.in", "main.c.in", "model.mk.in", "model.cmake.in" }) do
    e:template(name)
  end

  -- Weight slots, numbered in first-use order.
  local rows = {}
  for i, w in ipairs(g.weights) do
    w.slot = i - 1
    -- A precise matrix (a router's) stays bf16 in a quantized build.
    local wd = w.kind ~= "matrix" and "f32" or (w.precise and QUANTIZED[dtype] and "bf16") or dtype
    w.dtype = wd
    if (wd == "q8_0" or wd == "q4_0" or wd == "q4_k8") and w.shape[#w.shape] % 32 ~= 0 then
      CompileError.raise(("%s: %s needs rows that are a multiple of 32; '%s' has %d; build with --dtype bf16"):format(
        opts.config_path, wd, w.name, w.shape[#w.shape]))
    end
    local dims = {}
    for d = 1, 4 do dims[d] = tostring(w.shape[d] or 0) end
    rows[#rows + 1] = ("    /* %3d */ { %s, %s, %d, { %s }, %d, %d, %s },"):format(
      w.slot, clit.string(w.name), DTYPE_ENUM[wd], #w.shape, table.concat(dims, ", "), w.src_rows, w.row_begin,
      clit.float(w.offset))
  end

  local checks = {}
  for _, f in ipairs(opts.hf.fields) do
    if f.compare then
      local kind, value, text = nil, nil, "NULL"
      if f.absent then
        kind, value = "LM_CFG_STRING", "0"
      elseif type(f[2]) == "string" then
        kind, value, text = "LM_CFG_STRING", "0", clit.string(f[2])
      elseif type(f[2]) == "table" and type(f[2][1]) == "string" then
        for _, v in ipairs(f[2]) do assert(not v:find(",", 1, true), "a compared string list item has a comma") end
        kind, value, text = "LM_CFG_STRINGS", "0", clit.string(table.concat(f[2], ","))
      elseif type(f[2]) == "table" then
        local items = {}
        for i, v in ipairs(f[2]) do items[i] = ("%d"):format(v) end
        kind, value, text = "LM_CFG_INTS", "0", clit.string(table.concat(items, ","))
      elseif type(f[2]) == "boolean" then
        kind, value = "LM_CFG_BOOL", f[2] and "1" or "0"
      elseif math.type(f[2]) == "integer" then
        kind, value = "LM_CFG_INT", tostring(f[2])
      else
        kind, value = "LM_CFG_FLOAT", clit.shortest(f[2], false)
      end
      checks[#checks + 1] = ("    { %s, %s, %s, %d, %s },"):format(clit.string(f[1]), kind, value,
                                                               f.has_default and 1 or 0, text)
    end
  end

  local skipped = {}
  for i, prefix in ipairs(g.skipped.prefixes) do skipped[i] = "    " .. clit.string(prefix) .. "," end
  if #skipped == 0 then skipped[1] = "    NULL," end

  local batch, ctx = opts.batch, opts.ctx
  local arena = plan.run(g.fused, batch, g.result)

  -- The forward pass: each node as its op writes it.
  for _, node in ipairs(g.fused) do
    local m = ops.get(node.kind)
    if not m.emit then error("emit: op kind " .. node.kind .. " has no emit hook") end
    m.emit(node, e)
  end
  local scratch, kv_floats = e.scratch_floats, e.kv_floats
  -- The kernel a batch's linears run on, named by the linear op.
  local matmul_kernel = ops.get("linear").matmul_kernel(e)

  local C = clit.identifier(opts.name)
  local defines = {
    ("#define VOCAB %d"):format(cfg.vocab_size),
    ("#define CONTEXT %d /* KV-cache length in tokens */"):format(ctx),
    ("#define BATCH %d /* most tokens per forward call */"):format(batch),
    ("#define HIDDEN %d"):format(g.hidden or cfg.embedding_dim),
    ("#define ARENA_FLOATS ((size_t)%d) /* %.1f MiB */"):format(arena, arena * 4 / 1048576),
    ("#define SCRATCH_FLOATS ((size_t)%d) /* per thread */"):format(math.max(scratch, 16)),
    ("#define KV_FLOATS ((size_t)%d) /* %.1f MiB of address space */"):format(kv_floats, kv_floats * 4 / 1048576),
  }

  local comment = {}
  for _, k in ipairs(opts.config_keys) do
    local v = cfg[k]
    local s
    if type(v) == "table" then
      local items = {}
      for i, x in ipairs(v) do items[i] = tostring(x) end
      s = "[" .. table.concat(items, ", ") .. "]"
    else
      s = math.type(v) == "float" and clit.shortest(v, true) or tostring(v)
    end
    comment[#comment + 1] = (" *   %s: %s"):format(k, s)
  end

  local vars = {
    MODEL = opts.name, C_NAME = C, VERSION = opts.version, CONFIG = opts.config_path,
    ARCH = cfg.arch, DTYPE = dtype, MATMUL_INPUT = opts.matmul_input or "f32",
    KV_DTYPE = opts.kv_dtype or "f32", MATMUL_KERNEL = matmul_kernel, CONFIG_COMMENT = table.concat(comment, "\n"),
    DEFINES = table.concat(defines, "\n"), N_WEIGHTS = #g.weights, WEIGHT_TABLE = table.concat(rows, "\n"),
    -- config.json's model_type is checked first: a checkpoint of another
    -- model is named as such, not by every field that then differs.
    HF_MODEL_TYPE = opts.hf.model_type and clit.string(opts.hf.model_type) or "NULL",
    N_CHECKS = #checks, CONFIG_CHECKS = table.concat(checks, "\n"),
    KERNELS = table.concat(e.kernel_list), FORWARD = table.concat(e.body, "\n"),
    MOE_LAYERS = e.moe_layers, MOE_EXPERTS = e.moe_experts, ROPE_NTK = e.rope_ntk,
    KV_WINDOW_FLOATS = e.kv_window_floats, KV_WINDOW_PER_POSITION = e.kv_window_per_position,
    KV_FULL_PER_POSITION = e.kv_full_per_position, WINDOW = e.window, WINDOW_SLACK = e.window_slack,
    PARAMS_PER_TOKEN = e.params, HEAD_PARAMS = e.head_params, WEIGHT_BYTES_PER_TOKEN = e.weight_bytes,
    N_SKIPPED_PREFIXES = #g.skipped.prefixes, SKIPPED_PREFIXES = table.concat(skipped, "\n"),
    SKIPPED_WHY = g.skipped.why and clit.string(g.skipped.why) or "NULL",
    VOCAB = cfg.vocab_size, GUARD = C:upper() .. "_H", VAR = C:upper(),
  }
  if #checks == 0 then vars.CONFIG_CHECKS = "    { 0 }" end
  return {
    c_name = C,
    files = {
      { C .. ".c", fill(e:template("model.c.in"), vars, "model.c.in") },
      { C .. ".h", fill(e:template("model.h.in"), vars, "model.h.in") },
      { C .. "_main.c", fill(e:template("main.c.in"), vars, "main.c.in") },
      -- Build fragments for other build systems (lmcc build --emit-only).
      { C .. ".mk", fill(e:template("model.mk.in"), vars, "model.mk.in") },
      { C .. ".cmake", fill(e:template("model.cmake.in"), vars, "model.cmake.in") },
    },
  }
end

return M
