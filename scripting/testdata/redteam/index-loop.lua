-- attack: an __index chain that points at itself
-- expect: failed: too many recursions in gettable
return rule "rt-index-loop" {
  when = { event "attack", event "rt-index-loop" },
  mode = "queued",
  timeout = "2s",
  run = function(ctx, ev)
    local t = {}
    setmetatable(t, { __index = t })
    local u = setmetatable({}, { __index = function(_, k) return t[k] end })
    return t.nothing
  end,
}
