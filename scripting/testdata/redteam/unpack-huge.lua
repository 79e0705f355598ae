-- attack: unpack of a table of a million values onto the data stack
-- expect: failed: registry overflow
return rule "rt-unpack-huge" {
  when = { event "attack", event "rt-unpack-huge" },
  mode = "queued",
  timeout = "2s",
  run = function(ctx, ev)
    local t = {}
    for i = 1, 1000000 do t[i] = i end
    return unpack(t)
  end,
}
