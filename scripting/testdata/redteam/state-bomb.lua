-- attack: ctx.state of 8 MiB
-- expect: failed: state budget
return rule "rt-state-bomb" {
  when = { event "attack", event "rt-state-bomb" },
  mode = "queued",
  timeout = "2s",
  state = { big = {} },
  run = function(ctx, ev)
    local chunk = string.rep("S", 2^16)
    ctx.state.big = {}
    for i = 1, 128 do ctx.state.big[i] = chunk end
  end,
}
