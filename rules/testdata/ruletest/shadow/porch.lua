-- A new rule watched before it touches a device: it runs, counts, but its
-- actions are only recorded.
return rule "porch" {
  shadow = true,
  when = event "dusk",
  state = { runs = 0 },
  run = function(ctx, ev)
    ctx.state.runs = ctx.state.runs + 1
    assert(device("Porch Light"):on())
  end,
}
