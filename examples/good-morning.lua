-- Weekday mornings (or on demand: POST /api/events {"name":"good-morning"}):
-- a soft daylight lamp in the bedroom, the kitchen light on, the Kitchen Echo
-- asked for the weather (as if you had said it), and ten minutes later the
-- bedroom lamp at full brightness.
return rule "good-morning" {
  description = "Wake-up light on weekday mornings",
  when = { schedule("mon-fri 07:00", { missed = "15m" }), event "good-morning" },
  run = function(ctx, ev)
    local lamp = device("Bedroom Lamp")
    lamp:on()
    lamp:set_color_temperature("daylight")
    lamp:set_brightness(30)
    local ok, err = device("Kitchen Light"):on()
    if not ok then
      ctx.log.warn("kitchen light: %s", tostring(err))
    end
    alexa.echo("Kitchen Echo"):command("what's the weather")
    ctx.after("10m", "brighten", { level = 100 }, { id = "brighten" })
  end,
  handlers = {
    brighten = function(ctx, args)
      device("Bedroom Lamp"):set_brightness(args.level)
    end,
  },
}
