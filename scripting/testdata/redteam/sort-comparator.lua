-- attack: table.sort with a comparator that never returns
-- expect: timeout
return rule "rt-sort-comparator" {
  when = { event "attack", event "rt-sort-comparator" },
  mode = "queued",
  timeout = "1s",
  run = function(ctx, ev)
    local t = {3, 2, 1}
    table.sort(t, function(a, b) while true do end end)
  end,
}
