-- attack: __gc (never called by gopher-lua) and __mode tricks
-- expect: ok: no finaliser ran
return rule "rt-gc-metamethod" {
  when = { event "attack", event "rt-gc-metamethod" },
  mode = "queued",
  timeout = "2s",
  run = function(ctx, ev)
    for i = 1, 1000 do setmetatable({}, { __gc = function() while true do end end, __mode = "k" }) end
    ctx.log.info("no finaliser ran")
  end,
}
