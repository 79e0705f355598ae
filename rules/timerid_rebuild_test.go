package rules_test

import (
	"strings"
	"testing"

	"github.com/alexarules/alexarules/rules"
	"github.com/alexarules/alexarules/scripting"
)

// Auto timer ids stay unique across a memory-budget rebuild of the
// instance (the virtual clock does not move between runs).
func TestAutoTimerIDsStayUniqueAcrossARebuild(t *testing.T) {
	h := newHarnessOpts(t, map[string]string{"r.lua": `
local keep = {}
return rule "t" { when = event "go", mode = "queued", timeout = "60s", run = function(ctx, ev)
  if ev.data.small then ctx.log.info(ctx.after("1h", "h")) return end
  while true do keep[#keep + 1] = string.rep(tostring(#keep), 100) end
end, handlers = { h = function() end } }`}, rules.Options{Limits: scripting.Limits{HeapGrowth: 32 << 20}})
	h.emit("go", map[string]any{"small": true})
	h.emit("go", nil)
	h.emit("go", map[string]any{"small": true})
	runs := h.waitRuns(3, ofRule("t"))
	a, b := strings.Join(runs[0].Log, ","), strings.Join(runs[2].Log, ",")
	t.Logf("%q %q", a, b)
	if a == b {
		t.Fatalf("the same auto timer id %q before and after the rebuild", a)
	}
}
