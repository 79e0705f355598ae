-- attack: an emitted event with 8 MiB of data
-- expect: failed: state budget
return rule "rt-emit-bomb" {
  when = { event "attack", event "rt-emit-bomb" },
  mode = "queued",
  timeout = "2s",
  run = function(ctx, ev)
    local chunk, data = string.rep("M", 2^16), {}
    for i = 1, 128 do data["k" .. i] = chunk end
    ctx.emit("rt-bomb", data)
  end,
}
