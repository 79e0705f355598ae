-- attack: xpcall whose message handler loops too
-- expect: timeout
return rule "rt-xpcall-handler" {
  when = { event "attack", event "rt-xpcall-handler" },
  mode = "queued",
  timeout = "1s",
  run = function(ctx, ev)
    return xpcall(function() while true do end end, function(e) while true do end end)
  end,
}
