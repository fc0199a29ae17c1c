-- The op registry: each kind of op is one file, compiler/frontend/ops/<kind>.lua.
--
-- Nothing lists the ops: a script's g:<kind>(...), a fusion step and the
-- emitter all find an op's file by its kind, so adding an op is adding its
-- file (and its kernel). The contract an op file fulfils is written at the
-- top of ops/add.lua, the one to copy.

local M = {}

local loaded = {}   -- kind -> module, or false when there is no such file

-- The op module for kind, or nil when compiler/frontend/ops/<kind>.lua
-- does not exist. A file that exists but is broken is an error, not nil.
function M.find(kind)
  if type(kind) ~= "string" or not kind:match("^[%a_][%w_]*$") then return nil end
  local m = loaded[kind]
  if m ~= nil then return m or nil end
  if not package.searchpath("ops." .. kind, package.path) then
    loaded[kind] = false
    return nil
  end
  m = require("ops." .. kind)
  if type(m) ~= "table" or m.kind ~= kind then
    error(("ops/%s.lua must return a table whose kind is '%s'"):format(kind, kind))
  end
  loaded[kind] = m
  return m
end

-- The module for a kind the graph already holds: it must exist.
function M.get(kind)
  local m = M.find(kind)
  if not m then error(("no op file for kind '%s' (compiler/frontend/ops/%s.lua)"):format(kind, kind)) end
  return m
end

return M
