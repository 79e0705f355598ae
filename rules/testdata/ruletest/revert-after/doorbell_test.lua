local function home(t)
  t.household { endpoints = { { name = "Hall Light", power = "ON", brightness = 25 } } }
  t.clock "2026-03-02 19:00"
end

test("revert_after restores the value after the delay, across a restart", function(t)
  home(t)
  t.event("doorbell", {})
  t.expect_value("Hall Light", "brightness", 100)
  t.advance "29m"
  t.expect_value("Hall Light", "brightness", 100)
  t.restart()
  t.advance "1m"
  t.expect_value("Hall Light", "brightness", 25)
  t.expect_run("doorbell-light", "ok")
end)

test("a second ring keeps the first value to restore", function(t)
  home(t)
  t.event("doorbell", {})
  t.advance "20m"
  t.event("doorbell", {})
  t.advance "29m"
  t.expect_value("Hall Light", "brightness", 100)
  t.advance "1m"
  t.expect_value("Hall Light", "brightness", 25)
end)
