package rules_test

import (
	"sync"
	"testing"
)

// The engine keeps a run's actions in its trace without copying them
// (engine.Result): the next run of the same instance must not write into
// them.
func TestTraceActionsOutliveTheNextRun(t *testing.T) {
	var prints sync.Map
	h := newHarnessOpts(t, map[string]string{"r.lua": `
return rule "acts" {
  when = event "tick",
  mode = "queued",
  run = function(ctx, ev) act(ev.data.n) end,
}`}, redTeamOptions(&prints))
	h.emit("tick", map[string]any{"n": 1})
	first := h.waitRuns(1, ofRule("acts"))[0]
	h.emit("tick", map[string]any{"n": 2})
	h.waitRuns(2, ofRule("acts"))
	if len(first.Actions) != 1 || first.Actions[0].Args != 1 || first.Actions[0].EventID != first.EventID {
		t.Fatalf("the first run's trace changed under the second run: %+v (event %s)", first.Actions, first.EventID)
	}
}
