local function home(t)
  t.household { smarthome = {
    { name = "Living Room Sensor", type = "TEMPERATURE_SENSOR", temperature = 22 },
    { name = "Living Room Fan", type = "PLUG", power = "OFF", connectivity = "OK" },
  } }
end

test("the fan follows the temperature, with a gap so it does not flap", function(t)
  home(t)
  t.reading("Living Room Sensor", "temperature", 26)
  t.expect_value("Living Room Fan", "power", "ON")
  t.reading("Living Room Sensor", "temperature", 24)
  t.expect_no_call("Living Room Fan", "turnOff")
  t.reading("Living Room Sensor", "temperature", 22.5)
  t.expect_value("Living Room Fan", "power", "OFF")
end)

test("an offline fan is reported after ten minutes, not before", function(t)
  home(t)
  t.reading("Living Room Fan", "connectivity", "UNREACHABLE")
  t.advance "9m"
  t.expect_no_call("Living Room Fan")
  t.advance "1m"
  t.expect_run("fan-offline", "ok")
end)
