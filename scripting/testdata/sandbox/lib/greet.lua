-- A plain module: returns a table of functions.
local M = {}
loads = (loads or 0) + 1
function M.hello(name)
  return "hello " .. name
end
return M
