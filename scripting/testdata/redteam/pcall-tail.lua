-- attack: pcall in a tail call so that the run returns normally after catching the timeout
-- expect: timeout
return rule "rt-pcall-tail" {
  when = { event "attack", event "rt-pcall-tail" },
  mode = "queued",
  timeout = "1s",
  run = function(ctx, ev)
    return pcall(function() while true do end end)
  end,
}
