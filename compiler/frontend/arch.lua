-- Architecture declarations: `arch "qwen3" { params = ..., forward = ... }`.
--
-- An architecture script returns the value of `arch "name" { ... }`. This
-- file gives scripts the words they use (arch, int, float, bool, string,
-- optional) and checks a config against what the script declares, so every
-- config error names the file, line, column and key.

local M = {}

local CompileError = require("errors")

-- Parameter types. A type is a table { name = "int", check = fn(value) }.
local function type_of(name, check)
  return setmetatable({ name = name, check = check }, {
    -- int { default = 128 } makes an optional parameter with a default;
    -- the default may be a function of the other (already checked) values.
    __call = function(self, opts)
      return { type = self, default = opts.default, doc = opts.doc }
    end,
  })
end

M.int = type_of("int", function(v) return math.type(v) == "integer" end)
M.float = type_of("float", function(v) return type(v) == "number" end)
M.bool = type_of("bool", function(v) return type(v) == "boolean" end)
M.string = type_of("string", function(v) return type(v) == "string" end)
-- A list of non-negative integers ([] or [0, 3]): layer indices.
M.ints = type_of("list of non-negative ints", function(v)
  if type(v) ~= "table" then return false end
  local n = 0
  for _ in pairs(v) do n = n + 1 end
  for i = 1, n do
    if math.type(v[i]) ~= "integer" or v[i] < 0 then return false end
  end
  return true
end)

-- Keys every architecture has; the script declares the rest.
local COMMON = {
  arch = M.string,
  dtype = M.string,
}

local DTYPES = {
  float32 = "f32", f32 = "f32",
  bfloat16 = "bf16", bf16 = "bf16",
  float16 = "f16", f16 = "f16",
  q8_0 = "q8_0",
  q4_0 = "q4_0",
  q4_k8 = "q4_k8",
}
M.DTYPES = DTYPES

-- arch "name" { ... } -> the architecture table, with its name.
function M.arch(name)
  return function(def)
    assert(type(def.params) == "table", "arch " .. name .. ": params missing")
    assert(type(def.forward) == "function", "arch " .. name .. ": forward missing")
    def.name = name
    return def
  end
end

local function describe(v)
  if type(v) == "string" then return ("'%s' (string)"):format(v) end
  if math.type(v) == "integer" then return ("%d (int)"):format(v) end
  if type(v) == "number" then return ("%s (float)"):format(tostring(v)) end
  if type(v) == "boolean" then return tostring(v) .. " (bool)" end
  if type(v) == "table" then return "a " .. (v[1] ~= nil and "list" or "mapping") end
  return type(v)
end
M.describe = describe

-- Sorted keys, so that errors and output never depend on hash order.
local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end
M.sorted_keys = sorted_keys

-- Checks cfg (from the YAML) against the architecture's params and returns
-- the config the forward pass sees: every declared key present, typed,
-- defaults filled in, floats as floats.
function M.check_config(def, cfg, src)
  local spec = {}
  for k, t in pairs(COMMON) do spec[k] = t end
  for k, t in pairs(def.params) do spec[k] = t end

  for _, k in ipairs(sorted_keys(cfg)) do
    if spec[k] == nil then
      CompileError.at(src, k, ("unknown key '%s' for arch %s; known keys: %s"):format(
        k, def.name, table.concat(sorted_keys(spec), ", ")))
    end
  end

  local out = {}
  local pending = {}
  for _, k in ipairs(sorted_keys(spec)) do
    local p = spec[k]
    local ty = p.type or p
    local v = cfg[k]
    if v == nil then
      if p.default == nil then
        CompileError.file(src, ("missing key '%s' (expected %s)"):format(k, ty.name))
      end
      pending[#pending + 1] = { key = k, p = p }
    else
      if ty == M.float and math.type(v) == "integer" then v = v + 0.0 end
      if not ty.check(v) then
        CompileError.at(src, k, ("key '%s': expected %s, found %s"):format(k, ty.name, describe(v)))
      end
      out[k] = v
    end
  end
  -- Defaults may depend on other keys, so they are filled in last.
  for _, d in ipairs(pending) do
    local v = d.p.default
    if type(v) == "function" then v = v(out) end
    out[d.key] = v
  end

  if DTYPES[out.dtype] == nil then
    CompileError.at(src, "dtype", ("key 'dtype': expected one of %s, found '%s'"):format(
      table.concat(sorted_keys(DTYPES), ", "), out.dtype))
  end
  out.dtype = DTYPES[out.dtype]

  -- Consistency checks the script declares: check(c, require) where
  -- require(cond, key, message) fails at the key's position.
  if def.check then
    def.check(out, function(cond, key, msg)
      if not cond then CompileError.at(src, key, msg) end
    end)
  end
  return out
end

return M
