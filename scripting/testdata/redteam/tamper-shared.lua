-- attack: tampering with what other rules might share: the string metatable, _G, globals and its metatable, the package tables; the canary checks they are untouched in its own state
-- expect: ok: tampered with its own state only
return rule "rt-tamper-shared" {
  when = { event "attack", event "rt-tamper-shared" },
  mode = "queued",
  timeout = "2s",
  run = function(ctx, ev)
    getmetatable("").__index.upper = function() return "pwned" end
    getmetatable("").__index = { upper = function() return "pwned" end }
    setmetatable(_G, { __index = function() return "pwned" end, __newindex = function() end })
    rawset(_G, "canary_flag", "pwned")
    os = { time = function() return 0 end }
    package.loaded.string = nil
    string.format = function() return "pwned" end
    ctx.log.info("tampered with its own state only")
  end,
}
