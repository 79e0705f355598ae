-- A Saturday, so that good-morning's weekday schedule stays out of the way.
local function home(t)
  t.household { endpoints = { { name = "Bedroom Lamp", power = "OFF", brightness = 0 } },
                echos = { { name = "Bedroom Echo" } } }
  t.clock "2026-03-07 06:59"
end

test("lamp comes on softly when the bedroom alarm rings, brighter five minutes later", function(t)
  home(t)
  t.alarm { device = "Bedroom Echo", at = "07:00" }
  t.advance "1m"
  t.expect_call("Bedroom Lamp", "turnOn")
  t.expect_call("Bedroom Lamp", "setBrightness", 20)
  t.expect_value("Bedroom Lamp", "brightness", 20)
  t.advance "5m"
  t.expect_value("Bedroom Lamp", "brightness", 80)
  t.expect_run("wake-lights", "ok")
end)

test("the brighten timer survives a restart", function(t)
  home(t)
  t.alarm { device = "Bedroom Echo", at = "07:00" }
  t.advance "2m"
  t.restart()
  t.advance "4m"
  t.expect_value("Bedroom Lamp", "brightness", 80)
end)

test("no alarm, no light", function(t)
  home(t)
  t.advance "10m"
  t.expect_no_call("Bedroom Lamp")
end)
