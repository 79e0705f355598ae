-- attack: ctx.global keys of 8 MiB together, each under the limit
-- expect: failed: share a budget
return rule "rt-global-bomb" {
  when = { event "attack", event "rt-global-bomb" },
  mode = "queued",
  timeout = "2s",
  run = function(ctx, ev)
    local chunk = string.rep("G", 2^19)
    for i = 1, 16 do ctx.global["rt_bomb_" .. i] = chunk end
  end,
}
