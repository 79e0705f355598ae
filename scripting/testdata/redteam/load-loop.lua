-- attack: an endless loop at the top level of the file, outside run (at load and in every new instance)
-- expect: refused: loading the file took longer than
while true do end
return rule "rt-load-loop" { when = event "attack", run = function() end }
