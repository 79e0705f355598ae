-- attack: ten thousand actions in one run
-- expect: ok: more actions not recorded in this trace (budget 200
return rule "rt-action-flood" {
  when = { event "attack", event "rt-action-flood" },
  mode = "queued",
  timeout = "30s",
  run = function(ctx, ev)
    for i = 1, 10000 do act(i) end
  end,
}
