-- attack: a durable timer with 8 MiB of arguments
-- expect: failed: state budget
return rule "rt-timer-args-bomb" {
  when = { event "attack", event "rt-timer-args-bomb" },
  mode = "queued",
  timeout = "2s",
  handlers = { never = function() end },
  run = function(ctx, ev)
    local chunk, args = string.rep("T", 2^16), {}
    for i = 1, 128 do args[i] = chunk end
    ctx.after("1h", "never", args)
  end,
}
