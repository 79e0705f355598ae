-- attack: keeping memory in a file-level variable from run to run (each run adds until stopped)
-- expect: failed: memory budget exceeded
local keep = {}
return rule "rt-retain-across-runs" {
  when = { event "attack", event "rt-retain-across-runs" },
  mode = "queued",
  timeout = "60s",
  run = function(ctx, ev)
    while true do keep[#keep + 1] = string.rep(tostring(#keep), 1000) end
  end,
}
