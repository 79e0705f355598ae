-- attack: string.format with huge widths, repeated
-- expect: failed: string.format result too large
return rule "rt-format-width" {
  when = { event "attack", event "rt-format-width" },
  mode = "queued",
  timeout = "2s",
  run = function(ctx, ev)
    return string.format(string.rep("%99999d", 1000), 1)
  end,
}
