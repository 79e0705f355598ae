-- attack: a table that grows forever (small tables in a big array)
-- expect: failed: memory budget exceeded
return rule "rt-table-growth" {
  when = { event "attack", event "rt-table-growth" },
  mode = "queued",
  timeout = "60s",
  run = function(ctx, ev)
    local t = {}
    local i = 0
    while true do i = i + 1; t[i] = { i, tostring(i) } end
  end,
}
