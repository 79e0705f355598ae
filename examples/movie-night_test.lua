local function home(t)
  t.household { endpoints = {
    { name = "Living Room Lamp", power = "OFF", brightness = 60 },
    { name = "Living Room Speaker", volume = 20 },
  }, echos = { { name = "Living Room Echo" } } }
end

test("the lamp dims for the film and comes back after it", function(t)
  home(t)
  t.event("movie-night", { length = "20m" })
  t.expect_value("Living Room Lamp", "brightness", 15)
  t.expect_value("Living Room Speaker", "volume", 35)
  t.expect_call("Living Room Echo", "dnd", true)
  t.advance "20m"
  t.expect_value("Living Room Lamp", "brightness", 60)
  t.expect_value("Living Room Speaker", "volume", 20)
  t.expect_call("Living Room Echo", "dnd", false)
end)

test("the lights come back after a restart in the middle of the film", function(t)
  home(t)
  t.event("movie-night", { length = "1h" })
  t.advance "30m"
  t.restart()
  t.expect_value("Living Room Lamp", "brightness", 15)
  t.advance "30m"
  t.expect_value("Living Room Lamp", "brightness", 60)
end)
