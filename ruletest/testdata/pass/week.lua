return {
  rule "daily" {
    when = schedule "daily 07:00",
    state = { mornings = 0 },
    run = function(ctx) ctx.state.mornings = ctx.state.mornings + 1 end,
  },
  rule "remember" {
    when = event "remember",
    state = { seen = 0 },
    run = function(ctx, ev)
      ctx.state.seen = ctx.state.seen + 1
      ctx.after("2h", "later", { n = ctx.state.seen })
    end,
    handlers = { later = function(ctx, args) ctx.state.later = args.n end },
  },
  rule "warm" {
    when = reading { device = "Sensor", attr = "temperature", above = 25, hold = "10m" },
    run = function(ctx, ev) device("Fan"):on() end,
  },
  rule "busy" {
    when = event "busy",
    run = function(ctx, ev) ctx.after("1m", "noop") end,
    handlers = { noop = function() end },
  },
}
