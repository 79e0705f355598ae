-- One rule for every door: each door has its own throttle window.
return rule "door-left-open" {
  when = event "door",
  mode = "queued",
  throttle = "10m",
  key = function(ev) return ev.data.door end,
  run = function(ctx, ev)
    ctx.state[ev.data.door] = (ctx.state[ev.data.door] or 0) + 1
  end,
}
