test("a shadow rule runs but sends nothing", function(t)
  t.household { endpoints = { { name = "Porch Light", power = "OFF" } } }
  t.clock "2026-03-02 18:00"
  t.event("dusk", {})
  t.expect_run("porch", "shadow")
  t.expect_state("porch", "runs", 1)
  t.expect_no_call("Porch Light")
  t.expect_value("Porch Light", "power", "OFF")
end)
