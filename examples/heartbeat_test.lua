test("a beat every 15 seconds, counted in the rule's state", function(t)
  t.clock "2026-03-07 12:00"
  t.advance "1m"
  t.expect_state("heartbeat", "beats", 4)
end)

test("the office chimes on the hour on weekdays", function(t)
  t.clock "2026-03-02 08:59" -- a Monday
  t.advance "2m"
  t.expect_run("office-hours", "ok")
end)
