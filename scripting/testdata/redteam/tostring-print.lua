-- attack: print of a value whose __tostring loops
-- expect: timeout
return rule "rt-tostring-print" {
  when = { event "attack", event "rt-tostring-print" },
  mode = "queued",
  timeout = "1s",
  run = function(ctx, ev)
    print(setmetatable({}, { __tostring = function() while true do end end }))
  end,
}
