-- attack: one log line of 1 MiB
-- expect: ok: bytes cut
return rule "rt-log-huge-line" {
  when = { event "attack", event "rt-log-huge-line" },
  mode = "queued",
  timeout = "2s",
  run = function(ctx, ev)
    ctx.log.info(string.rep("H", 2^20))
  end,
}
