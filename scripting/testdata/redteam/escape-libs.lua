-- attack: every way out of the sandbox through the libraries: io, os, load*, dofile, require of os/io/debug, string.dump, debug, coroutine, getfenv, package.loadlib, _printregs
-- expect: failed: all escapes refused
return rule "rt-escape-libs" {
  when = { event "attack", event "rt-escape-libs" },
  mode = "queued",
  timeout = "5s",
  run = function(ctx, ev)
    local tries = {
      function() return io.open("/etc/passwd") end,
      function() return os.execute("id") end,
      function() return os.getenv("HOME") end,
      function() return os.remove("/tmp/x") end,
      function() return load("return 1")() end,
      function() return loadstring("return 1")() end,
      function() return dofile("/etc/passwd") end,
      function() return loadfile("/etc/passwd") end,
      function() return require("os").execute("id") end,
      function() return require("io").open("/etc/passwd") end,
      function() return require("debug").getregistry() end,
      function() return require("../../../etc/passwd") end,
      function() return string.dump(print) end,
      function() return debug.getregistry() end,
      function() return coroutine.create(print) end,
      function() return getfenv(0) end,
      function() return package.loadlib("libc.so.6", "system") end,
      function() return _printregs() end,
      function() return collectgarbage("count") end,
      function() return newproxy(true) end,
      function() return channel.make() end,
    }
    for i, f in ipairs(tries) do
      local ok, res = pcall(f)
      if ok then error("ESCAPED through attempt " .. i .. ": " .. tostring(res)) end
    end
    error("all escapes refused")
  end,
}
