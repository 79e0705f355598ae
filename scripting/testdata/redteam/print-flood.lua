-- attack: a million print lines of 1 KB in one run
-- expect: ok: more log lines dropped (budget 200 lines
return rule "rt-print-flood" {
  when = { event "attack", event "rt-print-flood" },
  mode = "queued",
  timeout = "60s",
  run = function(ctx, ev)
    local line = string.rep("P", 1024)
    for i = 1, 1000000 do print(i, line) end
  end,
}
