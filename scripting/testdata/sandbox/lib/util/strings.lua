-- A nested module that requires a sibling module.
local greet = require "greet"
local M = {}
function M.shout(name)
  return string.upper(greet.hello(name))
end
return M
