-- attack: non-tail recursion without end
-- expect: failed: stack overflow
return rule "rt-deep-recursion" {
  when = { event "attack", event "rt-deep-recursion" },
  mode = "queued",
  timeout = "2s",
  run = function(ctx, ev)
    local function f(n) return 1 + f(n + 1) end
    return f(1)
  end,
}
