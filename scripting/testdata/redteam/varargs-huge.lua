-- attack: 100,000 varargs through {...}
-- expect: failed: registry overflow
return rule "rt-varargs-huge" {
  when = { event "attack", event "rt-varargs-huge" },
  mode = "queued",
  timeout = "20s",
  run = function(ctx, ev)
    local t = {}
    for i = 1, 100000 do t[i] = i end
    local function f(...) return { ... } end
    return #f(unpack(t))
  end,
}
