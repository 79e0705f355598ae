-- attack: one huge allocation with string.rep (8 GiB)
-- expect: failed: string.rep result too large
return rule "rt-string-rep" {
  when = { event "attack", event "rt-string-rep" },
  mode = "queued",
  timeout = "2s",
  run = function(ctx, ev)
    local s = string.rep("x", 2^33)
    ctx.log.info(#s)
  end,
}
