-- C literals for the emitter and the op files: numbers that read back as
-- the same double, escaped strings, identifiers.
--
-- Generated code must be byte-identical for the same inputs, so every float
-- is printed by one rule: the shortest decimal that round-trips.

local M = {}

-- The shortest decimal that reads back as the same double; as_float keeps
-- a decimal point so that C reads it as a floating constant.
function M.shortest(x, as_float)
  if x == math.floor(x) and math.abs(x) < 1e15 then
    return ("%.1f"):format(x)
  end
  local s
  for digits = 1, 17 do
    s = ("%." .. digits .. "g"):format(x)
    if tonumber(s) == x then break end
  end
  if as_float and not s:find("[%.eEn]") then s = s .. ".0" end
  return s
end

-- A C float literal that reads back as the same double.
function M.float(x)
  if x ~= x then return "NAN" end
  if x == math.huge then return "INFINITY" end
  if x == -math.huge then return "-INFINITY" end
  return M.shortest(x, true) .. "f"
end

function M.string(s)
  return '"' .. s:gsub('[\\"]', "\\%0"):gsub("\n", "\\n") .. '"'
end

-- "qwen3-0.6b" -> "qwen3_0_6b"
function M.identifier(name)
  local c = name:gsub("[^%w]", "_"):lower()
  if c:match("^%d") then c = "m_" .. c end
  return c
end

return M
