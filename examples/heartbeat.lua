-- A schedule that needs no Alexa: every 15 seconds, count beats in the
-- rule's persisted state; on the hour, on weekdays, say so.
return {
  rule "heartbeat" {
    description = "Count beats; the count survives restarts",
    when = schedule "every 15s",
    state = { beats = 0 },
    run = function(ctx, ev)
      ctx.state.beats = ctx.state.beats + 1
      ctx.log.debug("beat %d", ctx.state.beats)
    end,
  },

  rule "office-hours" {
    description = "Weekday hourly chime during office hours",
    when = schedule("mon-fri every 1h between 09:00 and 17:00", { missed = "10m" }),
    run = function(ctx, ev)
      ctx.log.info("%s: the office is open (%s)", time.weekday(ctx.now), time.format(ctx.now, "%H:%M"))
    end,
  },
}
