-- Entry points the C host calls: compile a config, or describe the
-- checkpoint it expects (for lmcc synth).

local CompileError = require("errors")
local arch = require("arch")
local graph = require("graph")
local fuse = require("fuse")
local emit = require("emit")

local M = {}

-- The words an architecture script sees. `string` is the parameter type;
-- string methods still work through the string metatable.
local function script_env()
  local env = {
    arch = arch.arch, int = arch.int, float = arch.float, bool = arch.bool, string = arch.string,
    ints = arch.ints,
    math = math, table = table, ipairs = ipairs, pairs = pairs, tostring = tostring,
    tonumber = tonumber, type = type, error = error, assert = assert, select = select,
  }
  return env
end

local function load_arch(name, src, opts)
  local known = {}
  for _, a in ipairs(opts.archs) do known[a] = true end
  if not known[name] then
    CompileError.at(src, "arch", ("unknown arch '%s'; available: %s"):format(name, table.concat(opts.archs, ", ")))
  end
  local path = ("%s/%s.lua"):format(opts.arch_dir, name)
  local chunk, err = loadfile(path, "t", script_env())
  if not chunk then CompileError.raise(("%s: %s"):format(path, err)) end
  local ok, def = pcall(chunk)
  if not ok then
    if CompileError.is(def) then error(def, 0) end
    CompileError.raise(("%s: %s"):format(path, tostring(def)))
  end
  if type(def) ~= "table" or def.name ~= name then
    CompileError.raise(("%s: must return arch \"%s\" { ... }"):format(path, name))
  end
  return def, path
end

-- cfg/marks from the YAML; returns the architecture, its script path and
-- the checked config.
local function prepare(cfg, marks, opts)
  local src = { path = opts.config_path, marks = marks }
  if cfg.arch == nil then CompileError.file(src, "missing key 'arch' (expected string)") end
  if type(cfg.arch) ~= "string" then
    CompileError.at(src, "arch", ("key 'arch': expected string, found %s"):format(arch.describe(cfg.arch)))
  end
  local def, path = load_arch(cfg.arch, src, opts)
  local c = arch.check_config(def, cfg, src)
  local checkpoint_dtype = c.dtype
  if opts.dtype then
    if not arch.DTYPES[opts.dtype] then
      CompileError.raise(("--dtype: unknown dtype '%s'; use one of %s"):format(opts.dtype,
        table.concat(arch.sorted_keys(arch.DTYPES), ", ")))
    end
    c.dtype = arch.DTYPES[opts.dtype]
  end
  -- A bf16 build rounds the linears' inputs and the KV cache to bf16 unless
  -- told otherwise, as transformers computes with a bf16 model's tensors;
  -- a bf16 model quantized to q8_0, q4_0 or q4_k8 keeps its KV cache bf16 too
  -- (its linears take int8 inputs; llama.cpp's cache is f16 by default);
  -- every other build keeps both f32.
  local bf16_default = c.dtype == "bf16" and "bf16" or "f32"
  local quantized = c.dtype == "q8_0" or c.dtype == "q4_0" or c.dtype == "q4_k8"
  local kv_default = (c.dtype == "bf16" or (quantized and checkpoint_dtype == "bf16")) and "bf16" or "f32"
  local mi = opts.matmul_input or bf16_default
  if mi ~= "f32" and mi ~= "bf16" then
    CompileError.raise(("--matmul-input: expected f32 or bf16, found '%s'"):format(mi))
  end
  if mi == "bf16" and c.dtype ~= "bf16" then
    CompileError.raise(("--matmul-input bf16: needs bf16 weights; this build's dtype is %s"):format(c.dtype))
  end
  c.matmul_input = mi
  local kv = opts.kv_dtype or kv_default
  if kv ~= "f32" and kv ~= "bf16" then
    CompileError.raise(("--kv-dtype: expected f32 or bf16, found '%s'"):format(kv))
  end
  c.kv_dtype = kv
  return def, path, c
end

local function build_graph(def, path, c)
  local g = graph.new(c, path)
  local ok, err = pcall(def.forward, g, c)
  if not ok then
    if CompileError.is(err) then error(err, 0) end
    CompileError.raise(("%s: forward: %s"):format(path, tostring(err)))
  end
  if not g.result then
    CompileError.raise(("%s: forward must return g:logits(...)"):format(path))
  end
  g:check_skipped()
  return g
end

function M.compile(cfg, marks, opts)
  local def, path, c = prepare(cfg, marks, opts)
  local ctx = opts.ctx or c.context_length
  if ctx < 1 or ctx > c.context_length then
    CompileError.raise(("--ctx %d: must be between 1 and the model's context_length %d"):format(ctx, c.context_length))
  end
  local batch = math.min(opts.batch or 256, ctx)
  local g = build_graph(def, path, c)
  fuse.run(g)
  local keys = arch.sorted_keys(cfg)
  local out = emit.run(g, {
    templates = opts.templates, name = opts.name, version = opts.version,
    config_path = opts.config_path, hf = def.hf_config(c), batch = batch, ctx = ctx,
    matmul_input = c.matmul_input, kv_dtype = c.kv_dtype,
    config_keys = keys,
  })
  out.name = opts.name
  return out
end

-- What `lmcc synth` writes: the tensors (in first-use order) and
-- config.json's fields, as an ordered list of { key, value }.
function M.checkpoint_spec(cfg, marks, opts)
  local def, path, c = prepare(cfg, marks, opts)
  local g = build_graph(def, path, c)
  local tensors, seen = {}, {}
  for _, w in ipairs(g.weights) do
    if not seen[w.name] then
      seen[w.name] = true
      tensors[#tensors + 1] = { name = w.name, shape = w.src_shape, init = w.init }
    end
  end
  local hf = def.hf_config(c)
  local fields = { { "architectures", hf.architectures }, { "model_type", hf.model_type } }
  for _, f in ipairs(hf.fields) do
    -- A nested field ("rope_scaling.factor") is only checked; its object is written whole.
    -- An absent field (absent = true) is checked to be missing and not written.
    if not f.nested and not f.absent then fields[#fields + 1] = { f[1], f[2] } end
  end
  return { tensors = tensors, config = fields }
end

-- YAML scalars as our configs write them: 1000000.0, 1.0e-6, true.
local function yaml_value(v)
  if type(v) == "boolean" then return tostring(v) end
  if type(v) == "table" then
    -- A list of layer indices, in flow style: [] or [0, 3].
    local items = {}
    for i, x in ipairs(v) do items[i] = yaml_value(x) end
    return "[" .. table.concat(items, ", ") .. "]"
  end
  if math.type(v) == "integer" then return ("%d"):format(v) end
  if type(v) == "number" then
    if v == math.floor(v) and math.abs(v) < 1e15 then return ("%.1f"):format(v) end
    local s = require("clit").shortest(v, false)
    local mant, exp = s:match("^([^e]+)e([-+]%d+)$")
    if mant then
      if not mant:find("%.") then mant = mant .. ".0" end
      return ("%se%d"):format(mant, tonumber(exp))
    end
    return s
  end
  return tostring(v)
end

-- lmcc import: hf is config.json as a Lua table. Returns the YAML text.
function M.import_config(hf, opts)
  local src = { path = opts.config_path }
  local mt = hf.model_type
  local supported = {}
  for _, name in ipairs(opts.archs) do
    local def = load_arch(name, src, opts)
    -- hf_model_type: one model_type, or a list (a text model and the
    -- multimodal checkpoint that nests it); import sees config.json whole.
    local types = def.hf_model_type
    if type(types) == "string" then types = { types } end
    for _, t in ipairs(types or {}) do
      supported[#supported + 1] = ("%s (arch %s)"):format(t, name)
      if t == mt then
        -- An import may refuse a config.json it cannot express: nil, why.
        local fields, why = def.import(hf)
        if fields == nil then CompileError.file(src, why or "config.json cannot be imported") end
        local torch_dtype = hf.torch_dtype or hf.dtype or "bfloat16"
        local cfg, lines = { arch = name }, { "arch: " .. name }
        for _, f in ipairs(fields) do
          local p = def.params[f[1]]
          if p and (p.type or p) == arch.float and math.type(f[2]) == "integer" then f[2] = f[2] + 0.0 end
          if f[2] == nil then
            CompileError.file(src, ("missing field for '%s'; config.json lacks what it is read from"):format(f[1]))
          end
          cfg[f[1]] = f[2]
          lines[#lines + 1] = ("%s: %s"):format(f[1], yaml_value(f[2]))
        end
        cfg.dtype = torch_dtype
        lines[#lines + 1] = "dtype: " .. torch_dtype
        -- The result must be a config lmcc accepts.
        arch.check_config(def, cfg, src)
        return table.concat(lines, "\n") .. "\n"
      end
    end
  end
  CompileError.file(src, ("unsupported model_type '%s'; supported: %s"):format(tostring(mt),
    table.concat(supported, ", ")))
end

return M
