-- Memory planning: every activation gets a fixed offset in one arena.
--
-- A tensor lives from the op that writes it to the last op that reads it.
-- Tensors are placed largest first at the lowest offset that does not
-- overlap a tensor alive at the same time, so the arena's size and every
-- offset are compile-time constants and nothing is allocated per forward.

local M = {}

local ALIGN = 16 -- floats: 64 bytes, a cache line

local function round_up(v, a)
  return (v + a - 1) // a * a
end

-- Returns the arena size in floats; sets t.offset on every planned tensor.
-- Every node lists the tensors it reads and writes (see fuse.lua).
function M.run(nodes, batch, result)
  local live = {}   -- tensor -> { first, last }
  local order = {}
  for i, node in ipairs(nodes) do
    for _, t in ipairs(node.outs) do
      if t ~= result and not live[t] then
        live[t] = { first = i, last = i }
        order[#order + 1] = t
      end
    end
    for _, t in pairs(node.reads) do
      if live[t] then live[t].last = math.max(live[t].last, i) end
    end
  end

  local sorted = {}
  for i, t in ipairs(order) do sorted[i] = { t = t, i = i } end
  table.sort(sorted, function(a, b)
    if a.t.cols ~= b.t.cols then return a.t.cols > b.t.cols end
    return a.i < b.i
  end)

  local placed = {}
  local size = 0
  for _, e in ipairs(sorted) do
    local t, lt = e.t, live[e.t]
    local need = round_up(batch * t.cols, ALIGN)
    -- Intervals of overlapping-lifetime tensors, by offset.
    local busy = {}
    for _, p in ipairs(placed) do
      local lp = live[p]
      if lp.first <= lt.last and lt.first <= lp.last then busy[#busy + 1] = p end
    end
    table.sort(busy, function(a, b) return a.offset < b.offset end)
    local off = 0
    for _, p in ipairs(busy) do
      if off + need <= p.offset then break end
      off = math.max(off, round_up(p.offset + p.floats, ALIGN))
    end
    t.offset, t.floats = off, need
    placed[#placed + 1] = t
    size = math.max(size, off + need)
  end
  return size
end

return M
