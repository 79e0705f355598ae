-- The test of hello.lua: `alexarules test .` runs it on a virtual clock
-- against a simulated household (docs/RULES.md has the t API).
test("hello turns the lamp on and counts the visits", function(t)
  t.household { endpoints = { { name = "Bedroom Lamp", power = "OFF" } } }
  t.clock "2026-03-02 07:00"
  t.event("hello", { from = "a test" })
  t.expect_call("Bedroom Lamp", "turnOn")
  t.expect_value("Bedroom Lamp", "power", "ON")
  t.expect_state("hello", "count", 1)
  t.event("hello")
  t.expect_state("hello", "count", 2)
  t.expect_run("hello", "ok")
end)
