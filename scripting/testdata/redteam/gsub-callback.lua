-- attack: a gsub callback that returns 1 MiB for every match: 4 GiB would pile up inside one gsub call
-- expect: failed: string.gsub result too large
return rule "rt-gsub-callback" {
  when = { event "attack", event "rt-gsub-callback" },
  mode = "queued",
  timeout = "60s",
  run = function(ctx, ev)
    local big = string.rep("z", 2^20)
    return string.rep("x", 4096):gsub(".", function() return big .. "" end)
  end,
}
