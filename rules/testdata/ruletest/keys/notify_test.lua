test("each key has its own throttle window", function(t)
  t.household { endpoints = {} }
  t.clock "2026-03-02 08:00"
  t.event("door", { door = "front" })
  t.event("door", { door = "back" })
  t.event("door", { door = "front" })
  t.expect_run("door-left-open", "skipped", 'for key "front"')
  t.expect_state("door-left-open", "front", 1)
  t.expect_state("door-left-open", "back", 1)
  t.advance "10m"
  t.event("door", { door = "front" })
  t.expect_state("door-left-open", "front", 2)
end)
