local function home(t)
  t.household { endpoints = { { name = "Sensor", temperature = 20 }, { name = "Fan", power = "OFF" } } }
end

test("a daily schedule runs once a day for a week", function(t)
  t.clock "2026-03-02 06:00"
  t.advance "7d"
  t.expect_state("daily", "mornings", 7)
  t.expect_run("daily", "ok")
end)

test("state and timers survive a restart", function(t)
  t.event("remember")
  t.restart()
  t.expect_state("remember", "seen", 1)
  t.advance "2h"
  t.expect_state("remember", "later", 1)
end)

test("a running hold survives a restart", function(t)
  home(t)
  t.reading("Sensor", "temperature", 27)
  t.advance "5m"
  t.expect_no_call("Fan")
  t.restart()
  t.advance "5m"
  t.expect_call("Fan", "on")
  t.expect_value("Fan", "power", "ON")
end)

test("a hold reset by a change out of the range does not fire", function(t)
  home(t)
  t.reading("Sensor", "temperature", 27)
  t.advance "5m"
  t.reading("Sensor", "temperature", 24)
  t.advance "10m"
  t.expect_no_call("Fan")
end)
