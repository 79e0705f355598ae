-- The doorbell rings (POST /api/events {"name":"doorbell"}): the music in
-- the living room pauses, the Kitchen and Living Room Echos announce the
-- visitor in one announcement, the porch rule counts visitors, and a
-- durable timer says goodbye five minutes later, even across a restart.
return {
  rule "doorbell" {
    description = "Pause the music, announce and count visitors",
    when = event "doorbell",
    mode = "queued",
    state = { visitors = 0 },
    run = function(ctx, ev)
      ctx.state.visitors = ctx.state.visitors + 1
      ctx.log.info("ding dong: visitor %d today", ctx.state.visitors)
      local living = alexa.echo("Living Room Echo")
      local playing = living:player()
      if playing and playing.state == "PLAYING" then
        living:pause()
      end
      local ok, err = alexa.echoes{ "Kitchen Echo", "Living Room Echo" }:announce("Someone is at the door", { title = "Doorbell" })
      if not ok then
        ctx.log.warn("announcement: %s", tostring(err))
      end
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
