-- attack: a hundred thousand print lines of 1 KB while the file loads
-- expect: loaded: further print output dropped
local line = string.rep("p", 1024)
for i = 1, 100000 do print(i, line) end
return rule "rt-load-print-flood" { when = event "never", run = function() end }
