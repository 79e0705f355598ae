local function home(t, state)
  t.household { echos = { { name = "Kitchen Echo" }, { name = "Living Room Echo" } },
                players = { { echo = "Living Room Echo", state = state or "PLAYING", title = "Blue in Green" } } }
end

test("the music pauses and both Echos announce the visitor at once", function(t)
  home(t)
  t.event("doorbell")
  t.expect_call("Living Room Echo", "pause")
  t.expect_call("Kitchen Echo", "announce", "Someone is at the door")
  t.expect_run("doorbell", "ok")
end)

test("no music, nothing to pause", function(t)
  home(t, "PAUSED")
  t.event("doorbell")
  t.expect_no_call("Living Room Echo", "pause")
  t.expect_call("Living Room Echo", "announce")
end)

test("each visitor is counted, logged for every rule, and said goodbye to", function(t)
  home(t)
  t.event("doorbell")
  t.event("doorbell")
  t.expect_state("doorbell", "visitors", 2)
  t.expect_run("visitor-log", "ok")
  t.advance "5m"
  t.expect_run("doorbell", "ok")
end)

test("the count and the goodbye timer survive a restart", function(t)
  home(t)
  t.event("doorbell")
  t.advance "1m"
  t.restart()
  t.expect_state("doorbell", "visitors", 1)
  t.event("doorbell")
  t.expect_state("doorbell", "visitors", 2)
end)
