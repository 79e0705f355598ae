-- Your first rule. Check it with `alexarules check .`, test it with
-- `alexarules test .` (hello_test.lua); while `alexarules run`
-- runs, ring it with:
--   curl -X POST localhost:8080/api/events -d '{"name":"hello","data":{"from":"curl"}}'
-- `alexarules devices` lists the names device() takes; docs/RULES.md has
-- the whole language. Your editor completes and checks all of it through
-- .luarc.json (regenerate the definitions with `alexarules types --out
-- .luals/alexarules.d.lua` after upgrading).
return rule "hello" {
  description = "Bedroom lamp on, and a log line, when the custom event \"hello\" arrives",
  when = event "hello",
  state = { count = 0 },
  run = function(ctx, ev)
    ctx.state.count = ctx.state.count + 1
    local from = ev.data and ev.data.from or "someone"
    ctx.log.info("hello #%d from %s", ctx.state.count, from)
    device("Bedroom Lamp"):on()
  end,
}
