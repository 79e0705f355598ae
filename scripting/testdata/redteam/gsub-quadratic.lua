-- attack: gopher-lua's gsub copies the string once per match: 1 MiB with a match per byte would copy 1 TiB inside one Go call
-- expect: failed: string.gsub too costly
return rule "rt-gsub-quadratic" {
  when = { event "attack", event "rt-gsub-quadratic" },
  mode = "queued",
  timeout = "2s",
  run = function(ctx, ev)
    local s = string.rep("x", 2^20 - 1)
    return s:gsub(".", "y")
  end,
}
