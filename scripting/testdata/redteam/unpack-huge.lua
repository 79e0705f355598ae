-- attack: unpack of a table of 100,000 values onto the data stack (64K slots at most)
-- expect: failed: registry overflow
return rule "rt-unpack-huge" {
  when = { event "attack", event "rt-unpack-huge" },
  mode = "queued",
  timeout = "20s",
  run = function(ctx, ev)
    local t = {}
    for i = 1, 100000 do t[i] = i end
    return unpack(t)
  end,
}
