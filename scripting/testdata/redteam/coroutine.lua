-- attack: coroutines (absent) as a way around the deadline
-- expect: failed: coroutine
return rule "rt-coroutine" {
  when = { event "attack", event "rt-coroutine" },
  mode = "queued",
  timeout = "2s",
  run = function(ctx, ev)
    local co = coroutine.wrap(function() while true do coroutine.yield() end end)
    while true do co() end
  end,
}
