-- attack: an error value whose __tostring loops (error paths must not call it)
-- expect: failed: table: 0x
return rule "rt-tostring-error" {
  when = { event "attack", event "rt-tostring-error" },
  mode = "queued",
  timeout = "1s",
  run = function(ctx, ev)
    error(setmetatable({}, { __tostring = function() while true do end end }))
  end,
}
