-- attack: huge return values from run (discarded)
-- expect: ok: returned
return rule "rt-huge-return" {
  when = { event "attack", event "rt-huge-return" },
  mode = "queued",
  timeout = "2s",
  run = function(ctx, ev)
    local t = {}
    for i = 1, 100 do t[i] = string.rep("R", 2^16) end
    ctx.log.info("returned")
    return t, unpack(t)
  end,
}
