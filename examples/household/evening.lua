-- Household smart-home devices (`alexarules run --devices smarthome`, the
-- default for an account signed in with `alexarules login`): a cosy evening
-- turns the "Living Room" group off (a group of the Alexa app is named like a
-- device) and sets the bedroom lamp to a warm orange. The smart-home API takes
-- colours by name: the nearest Alexa colour is sent, and the run's trace shows
-- which ("sent").
-- Start it with: curl -X POST localhost:8080/api/events -d '{"name":"cosy-evening"}'
return rule "cosy-evening" {
  description = "Living room off, bedroom lamp warm orange",
  when = { schedule("daily 21:30", { missed = "15m" }), event "cosy-evening" },
  run = function(ctx, ev)
    local ok, err = device("Living Room"):off()
    if not ok then
      ctx.log.warn("living room: %s", tostring(err))
    end
    local lamp = device("Bedroom Lamp")
    lamp:on()
    lamp:set_color("orange")
    lamp:set_brightness(35)
  end,
}
