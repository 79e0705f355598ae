-- The hall light goes bright when the doorbell rings, and back to what it
-- was half an hour later (also across a restart).
return rule "doorbell-light" {
  when = event "doorbell",
  run = function(ctx, ev)
    assert(device("Hall Light"):set_brightness(100, { revert_after = "30m" }))
  end,
}
