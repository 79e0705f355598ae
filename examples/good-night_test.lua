local function home(t)
  t.household { endpoints = { { name = "Bedroom Lamp", power = "ON" }, { name = "Kitchen Light", power = "ON" } },
                echos = { { name = "Bedroom Echo" }, { name = "Kitchen Echo" } } }
end

test("good night: the lights go off and the bedroom Echo is quiet for eight hours", function(t)
  home(t)
  t.event("good-night")
  t.expect_value("Bedroom Lamp", "power", "OFF")
  t.expect_value("Kitchen Light", "power", "OFF")
  t.expect_call("Bedroom Echo", "dnd", { duration = "8h0m0s" })
  t.expect_no_call("Kitchen Echo")
end)

test("said to the kitchen Echo: the kitchen Echo is quiet for the night", function(t)
  home(t)
  t.voice("Kitchen Echo", "Good night")
  t.expect_value("Bedroom Lamp", "power", "OFF")
  t.expect_call("Kitchen Echo", "dnd", { duration = "8h0m0s" })
  t.expect_no_call("Bedroom Echo")
end)

test("other words change nothing", function(t)
  home(t)
  t.voice("Bedroom Echo", "good night moon")
  t.expect_no_call("Bedroom Lamp")
  t.expect_no_call("Bedroom Echo")
end)
