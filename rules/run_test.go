package rules_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
)

func TestStateCommitsOnlyWhenTheRunSucceeds(t *testing.T) {
	h := newHarness(t, map[string]string{"r.lua": `
return rule "count" {
  when = event "tick",
  state = { n = 0 },
  mode = "queued",
  run = function(ctx, ev)
    ctx.state.n = ctx.state.n + 1
    if ev.data.fail then error("boom") end
    ctx.log.info("n=%d", ctx.state.n)
  end,
}`})
	h.emit("tick", nil)
	h.waitRuns(1, ofRule("count"))
	h.emit("tick", map[string]any{"fail": true})
	runs := h.waitRuns(2, ofRule("count"))
	if runs[1].Outcome != engine.OutcomeFailed || !strings.Contains(runs[1].Error, "r.lua:8:") || !strings.Contains(runs[1].Error, "boom") {
		t.Fatalf("failed run: %+v", runs[1])
	}
	h.emit("tick", nil)
	runs = h.waitRuns(3, ofRule("count"))
	if got := runs[2].Log; len(got) != 1 || got[0] != "info: n=2" {
		t.Fatalf("the failed run must not commit its state: log %q", got)
	}
	h.restart()
	h.emit("tick", nil)
	runs = h.waitRuns(1, ofRule("count"))
	if got := runs[0].Log; len(got) != 1 || got[0] != "info: n=3" {
		t.Fatalf("state must survive a restart: log %q", got)
	}
}

func TestGlobalStateIsShared(t *testing.T) {
	h := newHarness(t, map[string]string{"r.lua": `
return {
  rule "writer" { when = event "set", run = function(ctx, ev) ctx.global.mode = ev.data.mode; ctx.emit("changed") end },
  rule "reader" { when = event "changed", run = function(ctx) ctx.log.info("mode=%s", ctx.global.mode) end },
}`})
	h.emit("set", map[string]any{"mode": "away"})
	runs := h.waitRuns(1, ofRule("reader"))
	if runs[0].Log[0] != "info: mode=away" {
		t.Fatalf("reader saw %q", runs[0].Log)
	}
	h.restart()
	h.emit("changed", nil)
	runs = h.waitRuns(1, ofRule("reader"))
	if runs[0].Log[0] != "info: mode=away" {
		t.Fatalf("global state must survive a restart, reader saw %q", runs[0].Log)
	}
}

func TestTimeoutStopsAnEndlessLoopOnly(t *testing.T) {
	h := newHarness(t, map[string]string{"r.lua": `
return {
  rule "spin" { when = event "go", mode = "queued", timeout = "100ms", state = { n = 0 },
    run = function(ctx) ctx.state.n = 1; while true do end end },
  rule "other" { when = event "go", run = function(ctx) ctx.log.info("still here") end },
}`})
	h.emit("go", nil)
	spin := h.waitRuns(1, ofRule("spin"))[0]
	if spin.Outcome != engine.OutcomeTimeout {
		t.Fatalf("endless loop: %+v", spin)
	}
	if other := h.waitRuns(1, ofRule("other"))[0]; other.Outcome != engine.OutcomeOK {
		t.Fatalf("other rule: %+v", other)
	}
	// The state is reusable and the timed-out run committed nothing.
	raw, err := h.store.RuleState("spin")
	if err != nil || raw != nil {
		t.Fatalf("timed-out run committed state %s (%v)", raw, err)
	}
	// Queued: a trace is out a moment before its worker is free, and in
	// mode single this event could find the rule still running.
	h.emit("go", nil)
	if runs := h.waitRuns(2, ofRule("spin")); runs[1].Outcome != engine.OutcomeTimeout {
		t.Fatalf("second run: %+v", runs[1])
	}
}

func TestDurableTimersFireAndSurviveRestart(t *testing.T) {
	files := map[string]string{"r.lua": `
return rule "lamp" {
  when = event "alarm",
  run = function(ctx, ev)
    ctx.after("5m", "brighten", { level = 80 }, { id = "b" })
    ctx.after("1h", "late", nil, { id = "l" })
    ctx.after("2h", "brighten", { level = 1 }, { id = "gone" })
    ctx.cancel("gone")
  end,
  handlers = {
    brighten = function(ctx, args) ctx.log.info("level %d", args.level) end,
    late = function(ctx) ctx.log.info("late") end,
  },
}`}
	h := newHarness(t, files)
	h.emit("alarm", nil)
	h.waitRuns(1, ofRule("lamp"))
	h.clock.Advance(5 * time.Minute)
	hr := h.waitRuns(1, func(tr engine.Trace) bool { return tr.Handler == "brighten" })[0]
	if hr.Log[0] != "info: level 80" || hr.Late {
		t.Fatalf("handler run: %+v", hr)
	}
	// The fired and the cancelled timer are gone from the store (the
	// handler run's commit deleted the first): no restart can run them.
	if timers, err := h.store.Timers(); err != nil || len(timers) != 1 || timers[0].ID != "lamp/l" {
		t.Fatalf("stored timers after the first handler run: %+v %v", timers, err)
	}
	// The engine goes down; the 1h timer falls due while it is down.
	h.stop()
	h.clock.Advance(2 * time.Hour)
	h.mu.Lock()
	h.traces = nil
	h.mu.Unlock()
	h.start()
	late := h.waitRuns(1, func(tr engine.Trace) bool { return tr.Handler == "late" })[0]
	if !late.Late || !strings.Contains(late.Reason, "late") {
		t.Fatalf("a timer due while down must run once at start, marked late: %+v", late)
	}
	// Nothing is stored and nothing armed on the clock: no timer can
	// run again, however far the clock moves.
	timers, err := h.store.Timers()
	if err != nil || len(timers) != 0 {
		t.Fatalf("timers left: %+v %v", timers, err)
	}
	if n := h.clock.Pending(); n != 0 {
		t.Fatalf("%d functions still armed on the clock", n)
	}
	for _, tr := range h.all() {
		if tr.Handler == "brighten" {
			t.Fatalf("cancelled or fired timers must not run again: %+v", tr)
		}
	}
}

func TestModes(t *testing.T) {
	// Each rule waits for its deadline: runs overlap with later events.
	h := newHarness(t, map[string]string{"r.lua": `
local function busy(ctx) while true do end end
return {
  rule "single" { when = event "go", mode = "single", timeout = "300ms", run = busy },
  rule "queued" { when = event "go", mode = "queued", max = 1, timeout = "300ms", run = busy },
  rule "restart" { when = event "go", mode = "restart", timeout = "1s", run = busy },
  rule "parallel" { when = event "go", mode = "parallel", max = 2, timeout = "300ms", run = busy },
}`})
	for range 3 {
		h.emit("go", nil)
	}
	count := func(rule, outcome string) int {
		n := 0
		for _, tr := range h.all() {
			if tr.Rule == rule && tr.Outcome == outcome {
				n++
			}
		}
		return n
	}
	// single: one run, two skipped.
	h.waitRuns(3, ofRule("single"))
	if count("single", engine.OutcomeTimeout) != 1 || count("single", engine.OutcomeSkipped) != 2 {
		t.Errorf("single: %d timeouts, %d skipped", count("single", engine.OutcomeTimeout), count("single", engine.OutcomeSkipped))
	}
	// queued max 1: one running, one waiting, one skipped; then the waiting one runs.
	h.waitRuns(3, ofRule("queued"))
	if count("queued", engine.OutcomeTimeout) != 2 || count("queued", engine.OutcomeSkipped) != 1 {
		t.Errorf("queued: %d timeouts, %d skipped", count("queued", engine.OutcomeTimeout), count("queued", engine.OutcomeSkipped))
	}
	// parallel max 2: two run at once, the third waits for one of them.
	h.waitRuns(3, ofRule("parallel"))
	if count("parallel", engine.OutcomeTimeout) != 3 || count("parallel", engine.OutcomeSkipped) != 0 {
		t.Errorf("parallel: %d timeouts, %d skipped", count("parallel", engine.OutcomeTimeout), count("parallel", engine.OutcomeSkipped))
	}
	// restart: the first two are cancelled by newer events, the last runs
	// until its deadline.
	restart := h.waitRuns(3, ofRule("restart"))
	for i, tr := range restart {
		cancelled := tr.Outcome == engine.OutcomeSkipped && strings.Contains(tr.Reason, "restart")
		if (i < 2) != cancelled || i == 2 && tr.Outcome != engine.OutcomeTimeout {
			t.Errorf("restart run %d: %+v", i+1, tr)
		}
	}
}

func TestChainsStopAtTheDepthLimitAndRulesDoNotTriggerThemselves(t *testing.T) {
	h := newHarness(t, map[string]string{"r.lua": `
return {
  rule "ping" { when = event "ping", mode = "queued", run = function(ctx, ev) ctx.emit("pong", { n = (ev.data.n or 0) + 1 }) end },
  rule "pong" { when = event "pong", mode = "queued", run = function(ctx, ev) ctx.emit("ping", { n = ev.data.n + 1 }) end },
  rule "self" { when = event "self", mode = "queued", run = function(ctx, ev) ctx.emit("self", {}) end },
}`})
	h.emit("ping", nil)
	h.emit("self", nil)
	h.waitRuns(1, ofRule("self"))
	// ping at depth 0, then 8 more hops are allowed: 9 runs in all; the
	// ninth, a ping, emits the pong the limit drops.
	h.waitRuns(9, func(tr engine.Trace) bool { return tr.Rule == "ping" || tr.Rule == "pong" })
	// A run publishes what it emits before its trace is out, and a queued
	// rule runs its events in order: once a sentinel published now has
	// run, a tenth pong or a second self run would have run before it.
	h.publish(engine.Event{ID: "sentinel-pong", Kind: engine.KindCustom, Name: "pong", Data: map[string]any{"n": 100.0}})
	h.publish(engine.Event{ID: "sentinel-self", Kind: engine.KindCustom, Name: "self"})
	before := func(rules ...string) int {
		sentinel := h.waitRuns(1, func(tr engine.Trace) bool { return tr.EventID == "sentinel-"+rules[len(rules)-1] })[0]
		n := 0
		for _, tr := range h.all() {
			if tr.ID == sentinel.ID {
				return n
			}
			if slices.Contains(rules, tr.Rule) {
				n++
			}
		}
		return n
	}
	if n := before("ping", "pong"); n != 9 {
		t.Fatalf("chain ran %d times, want 9 (depth limit 8)", n)
	}
	if s := before("self"); s != 1 {
		t.Fatalf("a rule triggered itself: %d runs", s)
	}
}

func TestConditionsAndEventFields(t *testing.T) {
	h := newHarness(t, map[string]string{"r.lua": `
return rule "cond" {
  mode = "queued",
  when = event("door", { id = "front", match = { where = "front" } }),
  only_if = { time.between("06:00", "09:00"), function(ctx, ev) return ev.data.open end },
  unless = function(ctx, ev) return ev.data.ignore end,
  run = function(ctx, ev)
    ctx.log.info("%s %s %s %s %d", ev.kind, ev.name, ev.trigger, ctx.rule, ev.time - ctx.now)
  end,
}`})
	h.emit("door", map[string]any{"where": "back", "open": true}) // no match
	h.emit("door", map[string]any{"where": "front", "open": false})
	h.emit("door", map[string]any{"where": "front", "open": true, "ignore": true})
	h.emit("door", map[string]any{"where": "front", "open": true})
	runs := h.waitRuns(3, ofRule("cond"))
	want := []string{engine.OutcomeSkipped, engine.OutcomeSkipped, engine.OutcomeOK}
	for i, w := range want {
		if runs[i].Outcome != w {
			t.Fatalf("run %d: %+v", i, runs[i])
		}
	}
	if runs[2].Log[0] != "info: event door front cond 0" {
		t.Fatalf("ev/ctx fields: %q", runs[2].Log)
	}
	h.clock.Advance(3 * time.Hour) // 09:59: outside the window
	h.emit("door", map[string]any{"where": "front", "open": true})
	if runs := h.waitRuns(4, ofRule("cond")); runs[3].Outcome != engine.OutcomeSkipped {
		t.Fatalf("time.between must fail at 10:00: %+v", runs[3])
	}
}

func TestSandboxedRunFailsCleanly(t *testing.T) {
	h := newHarness(t, map[string]string{"r.lua": `
return rule "escape" {
  when = event "go",
  mode = "queued",
  run = function(ctx, ev)
    if ev.data.what == "io" then io.open("/etc/passwd") end
    if ev.data.what == "exec" then os.execute("true") end
    if ev.data.what == "dofile" then dofile("/etc/passwd") end
    if ev.data.what == "require" then require("../../etc/passwd") end
  end,
}`})
	for _, what := range []string{"io", "exec", "dofile", "require"} {
		h.emit("go", map[string]any{"what": what})
	}
	for _, tr := range h.waitRuns(4, ofRule("escape")) {
		if tr.Outcome != engine.OutcomeFailed || !strings.Contains(tr.Error, "r.lua:") {
			t.Errorf("escape must fail with file:line: %+v", tr)
		}
	}
}

func TestStartupAndScheduleEventsReachTheirRule(t *testing.T) {
	h := newHarness(t, map[string]string{"r.lua": `
return {
  rule "boot" { when = startup {}, run = function(ctx, ev) ctx.log.info(ev.kind) end },
  rule "sched" { when = { event "never", cron "0 7 * * *" }, run = function(ctx, ev) ctx.log.info("%s %s", ev.kind, tostring(ev.late)) end },
}`})
	if tr := h.waitRuns(1, ofRule("boot"))[0]; tr.Log[0] != "info: startup" {
		t.Fatalf("startup: %+v", tr)
	}
	h.publish(engine.Event{Kind: engine.KindSchedule, Target: "sched", TriggerIndex: 1, Data: map[string]any{"late": false}})
	if tr := h.waitRuns(1, ofRule("sched"))[0]; tr.Log[0] != "info: schedule false" {
		t.Fatalf("schedule: %+v", tr)
	}
	b, _ := json.Marshal(h.engine.Rules())
	if !strings.Contains(string(b), `cron \"0 7 * * *\"`) {
		t.Fatalf("rules listing: %s", b)
	}
}

func TestCtxAtTakesAClockTime(t *testing.T) {
	h := newHarness(t, map[string]string{"r.lua": `
return rule "at" {
  when = event "go",
  run = function(ctx) ctx.at("07:30", "ring") end,
  handlers = { ring = function(ctx) ctx.log.info(time.format(ctx.now, "%H:%M")) end },
}`})
	h.emit("go", nil)
	h.waitRuns(1, ofRule("at"))
	h.clock.Advance(30 * time.Minute) // 07:29: not yet
	h.clock.Advance(time.Minute)
	run := h.waitRuns(1, func(tr engine.Trace) bool { return tr.Handler == "ring" })[0]
	if run.Log[0] != "info: 07:30" {
		t.Fatalf("ring: %+v", run)
	}
}

// With one state kept for three rules, every run rebuilds its rule's state
// from a spare: ctx.state carries on, module-level variables start again.
func TestReleasedStatesAreRebuiltWithNothingLost(t *testing.T) {
	files := map[string]string{}
	for _, id := range []string{"a", "b", "c"} {
		files[id+".lua"] = `local module_runs = 0
return rule "` + id + `" {
  when = event "tick-` + id + `",
  state = { n = 0 },
  run = function(ctx)
    module_runs = module_runs + 1
    ctx.state.n = ctx.state.n + 1
    ctx.log.info("n=%d module_runs=%d", ctx.state.n, module_runs)
  end,
}`
	}
	h := &harness{t: t, dir: writeRules(t, files), db: filepath.Join(t.TempDir(), "test.db"),
		clock: engine.NewVirtual(start), maxStates: 1}
	h.start()
	t.Cleanup(h.stop)
	for round := 1; round <= 4; round++ {
		for _, id := range []string{"a", "b", "c"} {
			h.emit("tick-"+id, nil)
			runs := h.waitRuns(round, ofRule(id))
			if got, want := runs[round-1].Log, []string{fmt.Sprintf("info: n=%d module_runs=1", round)}; !slices.Equal(got, want) {
				t.Fatalf("rule %s round %d: log %q, want %q", id, round, got, want)
			}
		}
	}
}
