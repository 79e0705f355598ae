-- "Alexa, add milk to my shopping list" -> a reminder on the Kitchen Echo
-- at 17:30, carrying the item's text (the push only says an item changed;
-- the engine fetched the text before the rule ran).
return rule "milk-reminder" {
  description = "Remind me at 17:30 to buy what was just added to the shopping list",
  when = alexa.list { list = "Shopping", op = "added", pattern = "milk" },
  run = function(ctx, ev)
    local id, err = alexa.remind { device = "Kitchen Echo", text = "buy " .. ev.item.text, at = "17:30" }
    if not id then
      ctx.log.warn("could not create the reminder: %s", tostring(err))
      return
    end
    ctx.log.info("reminder %s: buy %s at 17:30", id, ev.item.text)
  end,
}
