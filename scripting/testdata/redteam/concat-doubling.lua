-- attack: doubling a string with .. (every .. goes through a capped function)
-- expect: failed: string concatenation too large
return rule "rt-concat-doubling" {
  when = { event "attack", event "rt-concat-doubling" },
  mode = "queued",
  timeout = "60s",
  run = function(ctx, ev)
    local s = string.rep("x", 2^20)
    while true do s = s .. s end
  end,
}
