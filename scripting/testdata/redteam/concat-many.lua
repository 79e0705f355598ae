-- attack: appending to a string with .. in a loop (quadratic copying, growing heap)
-- expect: failed: string concatenation too large
return rule "rt-concat-many" {
  when = { event "attack", event "rt-concat-many" },
  mode = "queued",
  timeout = "60s",
  run = function(ctx, ev)
    local s = ""
    local chunk = string.rep("y", 2^16)
    local keep = {}
    while true do s = s .. chunk; keep[#keep + 1] = s end
  end,
}
