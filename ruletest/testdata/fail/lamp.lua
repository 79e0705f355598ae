return rule "lamp" {
  when = event "dark",
  mode = "single",
  run = function(ctx, ev)
    device("Lamp"):set_brightness(40)
    ctx.state.level = 40
  end,
}
