-- attack: a megabyte kept every few instructions, too few for the run's own heap check (every 4,096 instructions): the sampler must stop it
-- expect: failed: memory budget exceeded
return rule "rt-megabytes-kept" {
  when = { event "attack", event "rt-megabytes-kept" },
  mode = "queued",
  timeout = "60s",
  run = function(ctx, ev)
    local t = {}
    while true do t[#t + 1] = string.rep("x", 2^20 - 8) .. #t end
  end,
}
