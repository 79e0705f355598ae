-- Readings of household devices come from batched polls: one request reads
-- every device due (POST /api/phoenix/state), every 5 minutes by default so
-- that Amazon does not throttle the account (docs/CONFIG.md "Polling").
-- The fan plug follows the living room's temperature, with a gap between on
-- and off so that it does not flap; its reachability is read in the same
-- request as the temperature.
return {
  rule "too-warm" {
    description = "Fan on above 25 °C",
    when = reading { device = "Living Room Sensor", attr = "temperature", above = 25 },
    run = function(ctx, ev)
      local ok, err = device("Living Room Fan"):on()
      ctx.log.info("%.1f °C: fan %s", ev.value, ok and "on" or tostring(err))
    end,
  },

  rule "cool-again" {
    description = "Fan off below 23 °C",
    when = reading { device = "Living Room Sensor", attr = "temperature", below = 23 },
    run = function(ctx, ev)
      local ok, err = device("Living Room Fan"):off()
      ctx.log.info("%.1f °C: fan %s", ev.value, ok and "off" or tostring(err))
    end,
  },

  rule "fan-offline" {
    description = "Say when the fan plug has been offline for ten minutes",
    when = unreachable { device = "Living Room Fan", hold = "10m" },
    run = function(ctx, ev) ctx.log.warn("%s has been offline for ten minutes", ev.device.name) end,
  },
}
