-- attack: reaching another rule's state, the canary's Lua globals or the engine: registry, other LStates, ctx internals
-- expect: failed: nothing of another rule is reachable
return rule "rt-reach-other-state" {
  when = { event "attack", event "rt-reach-other-state" },
  mode = "queued",
  timeout = "2s",
  run = function(ctx, ev)
    local found = {}
    if rawget(_G, "canary_secret") ~= nil then found[#found+1] = "canary global" end
    if package.loaded["canary"] ~= nil then found[#found+1] = "canary module" end
    local ok = pcall(require, "canary")
    if ok then found[#found+1] = "require canary" end
    if ctx.state.secret ~= nil then found[#found+1] = "canary state in ctx.state" end
    for k, v in pairs(ctx) do
      if type(v) == "userdata" then found[#found+1] = "userdata ctx." .. k end
    end
    if getmetatable(ctx) ~= nil and rawget(getmetatable(ctx), "__index") ~= nil then
      local ok2, v = pcall(getmetatable(ctx).__index, ctx, "instance")
      if ok2 and v ~= nil then found[#found+1] = "ctx internals" end
    end
    if #found > 0 then error("REACHED: " .. table.concat(found, ", ")) end
    error("nothing of another rule is reachable")
  end,
}
