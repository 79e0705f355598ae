-- attack: table.concat of a table of 1 MiB strings
-- expect: failed: table.concat result too large
return rule "rt-table-concat" {
  when = { event "attack", event "rt-table-concat" },
  mode = "queued",
  timeout = "2s",
  run = function(ctx, ev)
    local s, t = string.rep("x", 2^20), {}
    for i = 1, 1000 do t[i] = s end
    return table.concat(t)
  end,
}
