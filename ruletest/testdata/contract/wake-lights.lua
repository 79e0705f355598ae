-- When the bedroom alarm rings, turn the lamp on softly, and brighten it
-- five minutes later (a durable timer: it survives a restart). Only in the
-- morning, so a nap alarm in the afternoon leaves the lamp alone.
return rule "wake-lights" {
  description = "Bedroom lamp on when the bedroom alarm rings",
  when = alexa.alarm { device = "Bedroom Echo" },
  mode = "restart",
  run = function(ctx, ev)
    local lamp = device("Bedroom Lamp")
    lamp:on()
    lamp:set_brightness(20)
    ctx.log.info("%s rang (%s): lamp on", ev.device.name, ev.notification.label or "alarm")
    ctx.after("5m", "brighten", { level = 80 }, { id = "brighten" })
  end,
  handlers = {
    brighten = function(ctx, args) device("Bedroom Lamp"):set_brightness(args.level) end,
  },
}
