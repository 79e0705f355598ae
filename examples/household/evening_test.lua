local function home(t)
  t.household {
    smarthome = {
      { name = "Living Room Lamp", type = "LIGHT", power = "ON", brightness = 70 },
      { name = "Living Room Plug", type = "PLUG", power = "ON" },
      { name = "Bedroom Lamp", type = "LIGHT", power = "OFF", brightness = 100,
        color = { hue = 0, saturation = 0, brightness = 1 } },
    },
    groups = { { name = "Living Room", members = { "Living Room Lamp", "Living Room Plug" } } },
  }
end

test("the living room goes off and the bedroom lamp turns warm orange at 21:30", function(t)
  home(t)
  t.clock "2026-03-07 21:29"
  t.advance "1m"
  t.expect_call("Living Room", "turnOff")
  t.expect_value("Living Room Lamp", "power", "OFF")
  t.expect_value("Living Room Plug", "power", "OFF")
  t.expect_value("Bedroom Lamp", "power", "ON")
  t.expect_value("Bedroom Lamp", "brightness", 35)
end)

test("on demand with the cosy-evening event", function(t)
  home(t)
  t.event("cosy-evening")
  t.expect_run("cosy-evening", "ok")
  t.expect_value("Living Room Plug", "power", "OFF")
end)
