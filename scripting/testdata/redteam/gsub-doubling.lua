-- attack: doubling a string with gsub(".", "%0%0")
-- expect: failed: string.gsub
return rule "rt-gsub-doubling" {
  when = { event "attack", event "rt-gsub-doubling" },
  mode = "queued",
  timeout = "2s",
  run = function(ctx, ev)
    local s = string.rep("x", 2^12)
    while true do s = s:gsub(".", "%0%0") end
  end,
}
