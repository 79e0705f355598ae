-- attack: an endless loop inside pcall, itself in an endless loop, to swallow the timeout error
-- expect: timeout
return rule "rt-pcall-loop" {
  when = { event "attack", event "rt-pcall-loop" },
  mode = "queued",
  timeout = "1s",
  run = function(ctx, ev)
    while true do pcall(function() while true do end end) end
  end,
}
