-- attack: a memory bomb at the top level of the file
-- expect: refused: memory budget exceeded
local t = {}
local chunk = string.rep("m", 2^16)
while true do t[#t + 1] = chunk .. #t end
return rule "rt-load-memory" { when = event "attack", run = function() end }
