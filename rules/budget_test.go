package rules_test

import (
	"runtime/metrics"
	"strings"
	"testing"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/rules"
	"github.com/alexarules/alexarules/scripting"
)

// TestLogBudgetIsCheap logs 10^5 lines of 1 KB in one run: the trace keeps
// the budget and says how many were dropped, and the lines past the budget
// are not even formatted (the run allocates far less than the 100 MB they
// would take).
func TestLogBudgetIsCheap(t *testing.T) {
	h := newHarness(t, map[string]string{"r.lua": `
return rule "flood" { when = event "go", timeout = "60s", run = function(ctx)
  local line = string.rep("L", 1024)
  for i = 1, 100000 do ctx.log.info("%d %s", i, line) end
  for i = 1, 100000 do print(i, line) end
end }`})
	allocs := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(allocs)
	before := allocs[0].Value.Uint64()
	h.emit("go", nil)
	tr := h.waitRuns(1, ofRule("flood"))[0]
	metrics.Read(allocs)
	allocated := allocs[0].Value.Uint64() - before
	if tr.Outcome != engine.OutcomeOK {
		t.Fatalf("run: %+v", tr.Error)
	}
	last := tr.Log[len(tr.Log)-1]
	if len(tr.Log) > 201 || !strings.HasPrefix(last, "... 199,9") || !strings.Contains(last, "more log lines dropped (budget 200 lines, 65536 bytes per run)") {
		t.Errorf("%d lines, last %q", len(tr.Log), last)
	}
	if allocated > 40<<20 {
		t.Errorf("the run allocated %d MiB for its log", allocated>>20)
	}
}

func TestStateBudgetFailsTheRunAndCommitsNothing(t *testing.T) {
	h := newHarnessOpts(t, map[string]string{"r.lua": `
return rule "big" { when = event "go", mode = "queued", state = { n = 0 }, run = function(ctx, ev)
  ctx.state.n = 1
  ctx.state.blob = string.rep("x", ev.data.size)
end }`}, rules.Options{Limits: scripting.Limits{StateBytes: 4096}})
	h.emit("go", map[string]any{"size": 5000})
	tr := h.waitRuns(1, ofRule("big"))[0]
	if tr.Outcome != engine.OutcomeFailed || !strings.Contains(tr.Error, "ctx.state: value.blob: over 4096 bytes as JSON: too large (state budget: 4096 bytes per run)") {
		t.Fatalf("run: %s %q", tr.Outcome, tr.Error)
	}
	if raw, err := h.store.RuleState("big"); err != nil || raw != nil {
		t.Fatalf("state committed: %s (%v)", raw, err)
	}
	h.emit("go", map[string]any{"size": 100})
	if tr := h.waitRuns(2, ofRule("big"))[1]; tr.Outcome != engine.OutcomeOK {
		t.Fatalf("small state: %s %q", tr.Outcome, tr.Error)
	}
}

// TestMemoryStopFreesWhatTheRuleKept stops a rule that keeps memory in a
// file-level variable; its next run starts from a new state.
func TestMemoryStopFreesWhatTheRuleKept(t *testing.T) {
	h := newHarnessOpts(t, map[string]string{"r.lua": `
local keep = {}
return rule "hoard" { when = event "go", mode = "queued", timeout = "60s", run = function(ctx, ev)
  ctx.log.info("kept %d", #keep)
  if ev.data.small then keep[#keep + 1] = "x" return end
  while true do keep[#keep + 1] = string.rep(tostring(#keep), 100) end
end }`}, rules.Options{Limits: scripting.Limits{HeapGrowth: 32 << 20}})
	h.emit("go", map[string]any{"small": true})
	h.emit("go", nil)
	h.emit("go", map[string]any{"small": true})
	runs := h.waitRuns(3, ofRule("hoard"))
	if runs[1].Outcome != engine.OutcomeFailed || !strings.Contains(runs[1].Error, "memory budget exceeded") {
		t.Fatalf("bomb: %s %q", runs[1].Outcome, runs[1].Error)
	}
	if runs[0].Log[0] != "info: kept 0" || runs[1].Log[0] != "info: kept 1" || runs[2].Log[0] != "info: kept 0" {
		t.Fatalf("logs %q %q %q: the run after the memory stop must start from a new state", runs[0].Log, runs[1].Log, runs[2].Log)
	}
}
