-- The example of RULES.md §7, word for word, with the rule of §1.
test("lamp comes on when the bedroom alarm rings", function(t)
  t.household { endpoints = { { name = "Bedroom Lamp", power = "OFF" } },
                echos = { { name = "Bedroom Echo" } } }
  t.clock "2026-03-02 06:59"
  t.alarm { device = "Bedroom Echo", at = "07:00" }
  t.advance "1m"
  t.expect_call("Bedroom Lamp", "turnOn")
  t.advance "5m"
  t.expect_value("Bedroom Lamp", "brightness", 80)
end)
