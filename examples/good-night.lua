-- "Alexa, good night" to any Echo (or POST /api/events {"name":"good-night"}):
-- the lights go off and the Echo that heard it goes quiet for the night,
-- Do Not Disturb for eight hours. Voice commands come from Alexa's voice
-- history: seconds late and best effort (docs/RULES.md), fine for this.
return rule "good-night" {
  description = "Lights off and Do Not Disturb when someone says good night",
  when = { alexa.voice { echo = "*", match = "good night" }, event "good-night" },
  run = function(ctx, ev)
    device("Bedroom Lamp"):off()
    device("Kitchen Light"):off()
    local echo = alexa.echo(ev.kind == "alexa.voice" and ev.device or "Bedroom Echo")
    local ok, err = echo:dnd { duration = "8h" }
    if not ok then
      ctx.log.warn("do not disturb on %s: %s", echo.name, tostring(err))
    end
  end,
}
