local function home(t)
  t.household { endpoints = {
    { name = "Bedroom Lamp", power = "OFF", brightness = 0, color_temperature = 2700 },
    { name = "Kitchen Light", power = "OFF" },
  }, echos = { { name = "Kitchen Echo" } } }
end

test("weekday 07:00: daylight lamp and kitchen light, full brightness ten minutes later", function(t)
  home(t)
  t.clock "2026-03-02 06:59" -- a Monday
  t.advance "1m"
  t.expect_call("Bedroom Lamp", "turnOn")
  t.expect_call("Bedroom Lamp", "setColorTemperature")
  t.expect_value("Bedroom Lamp", "color_temperature", 5500)
  t.expect_value("Bedroom Lamp", "brightness", 30)
  t.expect_value("Kitchen Light", "power", "ON")
  t.expect_call("Kitchen Echo", "command", "what's the weather")
  t.advance "10m"
  t.expect_value("Bedroom Lamp", "brightness", 100)
end)

test("nothing on a Saturday morning", function(t)
  home(t)
  t.clock "2026-03-07 06:59"
  t.advance "15m"
  t.expect_no_call("Bedroom Lamp")
  t.expect_no_call("Kitchen Light")
  t.expect_no_call("Kitchen Echo")
end)

test("on demand with the good-morning event", function(t)
  home(t)
  t.event("good-morning")
  t.expect_value("Kitchen Light", "power", "ON")
end)
