test("check_first skips what is done already and sends the rest", function(t)
  t.household { endpoints = { { name = "Kettle", power = "ON" },
                              { name = "Desk Lamp", power = "ON", brightness = 30 } } }
  t.clock "2026-03-02 16:00"
  t.event("tea", {})
  t.expect_run("kettle", "ok")
  t.expect_no_call("Kettle", "turnOn")
  t.expect_call("Desk Lamp", "setBrightness", 60)
end)
