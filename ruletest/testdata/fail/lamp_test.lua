local function home(t)
  t.household { endpoints = { { name = "Lamp", power = "OFF", brightness = 0 } } }
end

test("passes", function(t)
  home(t)
  t.event("dark")
  t.expect_call("Lamp", "setBrightness", 40)
end)

test("wrong call arguments", function(t)
  home(t)
  t.event("dark")
  t.expect_call("Lamp", "setBrightness", 50)
end)

test("wrong value", function(t)
  home(t)
  t.event("dark")
  t.expect_value("Lamp", "brightness", 80)
end)

test("wrong state", function(t)
  home(t)
  t.event("dark")
  t.expect_state("lamp", "level", 41)
end)

test("unexpected call", function(t)
  home(t)
  t.event("dark")
  t.expect_no_call("Lamp")
end)

test("no run", function(t)
  t.expect_run("lamp", "ok")
end)

test("lua error", function(t)
  local x = nil
  x.field = 1
end)
