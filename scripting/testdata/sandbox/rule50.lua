-- A 50-line rule of the kind users write; used by benchmarks and the
-- compaction tests.
local function clamp(v, lo, hi)
  if v < lo then return lo end
  if v > hi then return hi end
  return v
end

local levels = { morning = 30, day = 80, evening = 50, night = 5 }

local function phase(hour)
  if hour < 6 then return "night" end
  if hour < 10 then return "morning" end
  if hour < 18 then return "day" end
  if hour < 22 then return "evening" end
  return "night"
end

local function describe(ev)
  local parts = {}
  for k, v in pairs(ev) do
    parts[#parts + 1] = tostring(k) .. "=" .. tostring(v)
  end
  table.sort(parts)
  return table.concat(parts, ",")
end

local M = {}

function M.run(ev)
  local hour = ev.hour or 12
  local p = phase(hour)
  local level = clamp(levels[p] + (ev.offset or 0), 0, 100)
  local msg = string.format("%s: %s -> %d", describe(ev), p, level)
  local total = 0
  for i = 1, 10 do
    total = total + i * level
  end
  if total % 2 == 1 then
    msg = msg .. " odd"
  end
  return { phase = p, level = level, message = msg, total = total }
end

function M.fib(n)
  if n < 2 then return n end
  return M.fib(n - 1) + M.fib(n - 2)
end

return M
