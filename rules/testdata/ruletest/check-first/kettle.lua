return rule "kettle" {
  when = event "tea",
  run = function(ctx, ev)
    assert(device("Kettle"):on { check_first = true })
    assert(device("Desk Lamp"):set_brightness(60, { check_first = true }))
  end,
}
