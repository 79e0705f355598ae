-- attack: a million log lines of 1 KB in one run
-- expect: ok: more log lines dropped (budget 200 lines
return rule "rt-log-flood" {
  when = { event "attack", event "rt-log-flood" },
  mode = "queued",
  timeout = "60s",
  run = function(ctx, ev)
    local line = string.rep("L", 1024)
    for i = 1, 1000000 do ctx.log.info("%d %s", i, line) end
  end,
}
