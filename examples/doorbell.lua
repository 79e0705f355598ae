-- An event chain that needs no Alexa: the doorbell rings (POST /api/events
-- {"name":"doorbell"}), the porch rule counts visitors and announces them,
-- and a durable timer says goodbye five minutes later, even across a restart.
return {
  rule "doorbell" {
    description = "Count visitors and announce them",
    when = event "doorbell",
    mode = "queued",
    state = { visitors = 0 },
    run = function(ctx, ev)
      ctx.state.visitors = ctx.state.visitors + 1
      ctx.log.info("ding dong: visitor %d today", ctx.state.visitors)
      ctx.emit("visitor", { n = ctx.state.visitors, at = time.format(ctx.now, "%H:%M") })
      ctx.after("5m", "goodbye", { n = ctx.state.visitors }, { id = "goodbye" })
    end,
    handlers = {
      goodbye = function(ctx, args)
        ctx.log.info("visitor %d has been gone five minutes", args.n)
      end,
    },
  },

  rule "visitor-log" {
    description = "Keep the last visitor's time where every rule can read it",
    when = event "visitor",
    run = function(ctx, ev)
      ctx.global.last_visitor = ev.data.at
      ctx.log.info("last visitor at %s", ev.data.at)
    end,
  },
}
