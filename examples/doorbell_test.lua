test("each visitor is counted, logged for every rule, and said goodbye to", function(t)
  t.event("doorbell")
  t.event("doorbell")
  t.expect_state("doorbell", "visitors", 2)
  t.expect_run("visitor-log", "ok")
  t.advance "5m"
  t.expect_run("doorbell", "ok")
end)

test("the count and the goodbye timer survive a restart", function(t)
  t.event("doorbell")
  t.advance "1m"
  t.restart()
  t.expect_state("doorbell", "visitors", 1)
  t.event("doorbell")
  t.expect_state("doorbell", "visitors", 2)
end)
