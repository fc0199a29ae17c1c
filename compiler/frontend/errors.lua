-- Compile errors carry one line: "<where>: <what>; <what to do>".
--
-- They are raised as tables so the C host can tell them from bugs in a
-- script (plain Lua errors, reported with their traceback position).

local M = {}

local Error = {}
Error.__index = Error
Error.__tostring = function(e) return e.msg end

function M.raise(msg)
  error(setmetatable({ msg = msg }, Error), 0)
end

function M.is(e)
  return getmetatable(e) == Error
end

-- src = { path = "configs/x.yaml", marks = { key = {line=, col=} } }
function M.at(src, key, msg)
  local m = src.marks and src.marks[key]
  if m then
    M.raise(("%s:%d:%d: %s"):format(src.path, m.line, m.col, msg))
  end
  M.raise(("%s: %s"):format(src.path, msg))
end

function M.file(src, msg)
  M.raise(("%s: %s"):format(src.path, msg))
end

return M
