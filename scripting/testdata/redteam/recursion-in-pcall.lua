-- attack: recursion whose stack overflow each level catches with pcall
-- expect: timeout
return rule "rt-recursion-in-pcall" {
  when = { event "attack", event "rt-recursion-in-pcall" },
  mode = "queued",
  timeout = "1s",
  run = function(ctx, ev)
    local function f() pcall(f); pcall(f) end
    while true do f() end
  end,
}
