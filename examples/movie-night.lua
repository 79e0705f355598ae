-- Film time: dim the living room, turn the speaker up, keep the Living Room
-- Echo quiet (Do Not Disturb), and bring the light back to where it was when
-- the film is over (a durable timer: a restart in between does not leave you
-- in the dark).
-- Start it with: curl -X POST localhost:8080/api/events -d '{"name":"movie-night","data":{"length":"2h"}}'
return rule "movie-night" {
  description = "Dim the living room for a film, then bring the light back",
  when = event "movie-night",
  mode = "restart",
  run = function(ctx, ev)
    local lamp = device("Living Room Lamp")
    local before, err = lamp:get("brightness")
    if before == nil then
      ctx.log.warn("could not read the lamp: %s", tostring(err))
      before = 80
    end
    lamp:on()
    lamp:set_brightness(15)
    device("Living Room Speaker"):set_volume(35)
    alexa.echo("Living Room Echo"):dnd(true)
    local length = (ev.data and ev.data.length) or "2h"
    ctx.after(length, "lights_up", { level = before }, { id = "lights-up" })
    ctx.log.info("movie night: lamp %d%% -> 15%%, back in %s", before, length)
  end,
  handlers = {
    lights_up = function(ctx, args)
      device("Living Room Lamp"):set_brightness(args.level)
      device("Living Room Speaker"):set_volume(20)
      alexa.echo("Living Room Echo"):dnd(false)
    end,
  },
}
