local function home(t)
  t.household { echos = { { name = "Kitchen Echo" } }, lists = { { name = "Shopping" } } }
end

test("milk on the shopping list makes a reminder on the Kitchen Echo", function(t)
  home(t)
  t.list_add("Shopping", "oat milk")
  t.expect_call("Kitchen Echo", "remind")
  t.expect_run("milk-reminder", "ok")
end)

test("bread makes no reminder", function(t)
  home(t)
  t.list_add("Shopping", "bread")
  t.expect_no_call("Kitchen Echo")
end)
