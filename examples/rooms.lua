-- Rules from data: one rule per room, generated from a list. A property
-- lists its rooms once; each gets a rule of its own, with an id made from
-- the room's name ("Room 101" gives "door-room-101"), its own ctx.state,
-- runs and traces, validated like any rule. Needs no Alexa: a door sensor
-- posts POST /api/events {"name":"door","data":{"room":"Room 101"}}.
local rooms = {
  { name = "Room 101", floor = 1 },
  { name = "Room 102", floor = 1 },
  { name = "Suite 201", floor = 2, suite = true },
}

return rules.each(rooms, function(room, id)
  return rule("door-" .. id) {
    description = "Count the door openings of " .. room.name,
    when = event("door", { match = { room = room.name } }),
    state = { openings = 0 },
    run = function(ctx, ev)
      ctx.state.openings = ctx.state.openings + 1
      if room.suite and ctx.state.openings == 1 then
        ctx.log.info("%s (floor %d): first guest of the day, tell the butler", room.name, room.floor)
      end
    end,
  }
end)
