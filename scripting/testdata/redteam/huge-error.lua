-- attack: an error message of 1 MiB
-- expect: failed: bytes cut
return rule "rt-huge-error" {
  when = { event "attack", event "rt-huge-error" },
  mode = "queued",
  timeout = "2s",
  run = function(ctx, ev)
    error(string.rep("E", 2^20))
  end,
}
