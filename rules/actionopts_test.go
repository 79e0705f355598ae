package rules_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/scripting"
)

func TestCheckFirstSkipsAnActionThatIsDoneAlready(t *testing.T) {
	home := newFakeHome(map[string]map[string]any{"Lamp": {"power": "ON", "brightness": 40.0}})
	h := newHomeHarness(t, map[string]string{"r.lua": `
return rule "lamp" {
  when = event "go",
  run = function(ctx, ev)
    local lamp = device("Lamp")
    assert(lamp:on { check_first = true })
    assert(lamp:set_brightness(ev.data.level, { check_first = true }))
  end,
}`}, home)
	h.emit("go", map[string]any{"level": 40})
	tr := h.waitRuns(1, ofRule("lamp"))[0]
	if tr.Outcome != engine.OutcomeOK || len(tr.Actions) != 2 {
		t.Fatalf("run: %+v", tr)
	}
	for _, a := range tr.Actions {
		if a.Result != scripting.ResultSkippedByCheck || !strings.Contains(a.Note, "already") {
			t.Errorf("action %+v: want skipped_by_check", a)
		}
	}
	if got := home.sent(); len(got) != 0 {
		t.Fatalf("check_first sent %v", got)
	}
	h.emit("go", map[string]any{"level": 70})
	tr = h.waitRuns(2, ofRule("lamp"))[1]
	if tr.Actions[1].Result != true {
		t.Fatalf("a different value is sent: %+v", tr.Actions[1])
	}
	if got := home.sent(); !slices.Equal(got, []string{"Lamp setBrightness 70"}) {
		t.Fatalf("sent %v", got)
	}
}

func TestActionOptionsAreChecked(t *testing.T) {
	home := newFakeHome(map[string]map[string]any{"Lamp": {"power": "ON", "brightness": 40.0}})
	h := newHomeHarness(t, map[string]string{"r.lua": `
return rule "bad" {
  when = event "go",
  mode = "queued",
  run = function(ctx, ev)
    local lamp = device("Lamp")
    if ev.data.n == 1 then lamp:on { chek_first = true } end
    if ev.data.n == 2 then lamp:adjust_brightness(10, { check_first = true }) end
    if ev.data.n == 3 then lamp:set_brightness(10, { revert_after = "soon" }) end
    if ev.data.n == 4 then lamp:unpair_bluetooth { revert_after = "5m" } end
  end,
}`}, home)
	want := []string{
		`r.lua:7: bad argument #1 to on (unknown action option "chek_first" (check_first, revert_after))`,
		`r.lua:8: bad argument #2 to adjust_brightness (check_first: adjust_brightness sets no value to check`,
		`r.lua:9: bad argument #2 to set_brightness (revert_after: `,
		`r.lua:10: bad argument #1 to unpair_bluetooth (no value expected, got table)`,
	}
	for i := range want {
		h.emit("go", map[string]any{"n": i + 1})
	}
	runs := h.waitRuns(len(want), ofRule("bad"))
	for i, w := range want {
		if runs[i].Outcome != engine.OutcomeFailed || !strings.Contains(runs[i].Error, w) {
			t.Errorf("run %d: %s %q, want failed with %q", i+1, runs[i].Outcome, runs[i].Error, w)
		}
	}
	if got := home.sent(); len(got) != 0 {
		t.Fatalf("a bad option must stop the call before it is sent: %v", got)
	}
}

const revertRules = `
return {
  rule "motion" {
    when = event "motion",
    mode = "queued",
    run = function(ctx, ev)
      assert(device("Lamp"):set_brightness(ev.data.level, { revert_after = "30m" }))
    end,
  },
  rule "manual" {
    when = event "manual",
    run = function(ctx, ev) assert(device("Lamp"):set_brightness(ev.data.level)) end,
  },
}`

// revert_after restores the value the device had before the action, from
// a durable timer: it survives a restart, a repeated action keeps the
// first value to restore, and a later action without it cancels it.
func TestRevertAfterRestoresTheValueDurably(t *testing.T) {
	home := newFakeHome(map[string]map[string]any{"Lamp": {"power": "ON", "brightness": 10.0}})
	h := newHomeHarness(t, map[string]string{"r.lua": revertRules}, home)
	h.emit("motion", map[string]any{"level": 80})
	tr := h.waitRuns(1, ofRule("motion"))[0]
	if tr.Outcome != engine.OutcomeOK || !strings.Contains(tr.Actions[0].Note, "revert_after 30m0s: brightness was 10") {
		t.Fatalf("run: %+v", tr)
	}
	h.clock.Advance(10 * time.Minute)
	h.emit("motion", map[string]any{"level": 90}) // supersedes: still restores 10
	h.waitRuns(2, ofRule("motion"))
	if got := home.sent(); !slices.Equal(got, []string{"Lamp setBrightness 80", "Lamp setBrightness 90"}) {
		t.Fatalf("sent %v", got)
	}
	timers, err := h.store.Timers()
	if err != nil || len(timers) != 1 || timers[0].Handler != engine.RevertHandler {
		t.Fatalf("one durable revert timer expected: %+v %v", timers, err)
	}

	h.restart() // the revert is a stored timer
	h.clock.Advance(29*time.Minute + 59*time.Second)
	if got := home.sent(); len(got) != 0 {
		t.Fatalf("reverted too early: %v", got)
	}
	h.clock.Advance(time.Second)
	rv := h.waitRuns(1, func(tr engine.Trace) bool { return tr.Handler == engine.RevertHandler })[0]
	if rv.Outcome != engine.OutcomeOK || rv.Actions[0].Call != "set_brightness" {
		t.Fatalf("revert run: %+v", rv)
	}
	if got := home.sent(); !slices.Equal(got, []string{"Lamp setBrightness 10"}) {
		t.Fatalf("the revert must restore the value before the first action: %v", got)
	}

	// Another rule's action on the same attribute cancels the revert.
	h.emit("motion", map[string]any{"level": 80})
	h.waitRuns(2, ofRule("motion")) // the revert's run and this one
	h.emit("manual", map[string]any{"level": 50})
	h.waitRuns(1, ofRule("manual"))
	if timers, _ := h.store.Timers(); len(timers) != 0 {
		t.Fatalf("a later action must cancel the revert: %+v", timers)
	}
	h.clock.Advance(time.Hour)
	if got := home.sent(); !slices.Equal(got, []string{"Lamp setBrightness 80", "Lamp setBrightness 50"}) {
		t.Fatalf("sent %v", got)
	}
	if v := home.value("Lamp", "brightness"); v != 50.0 {
		t.Fatalf("brightness %v, want 50", v)
	}
}

// A revert that fell due while the engine was down runs once at start-up,
// marked late.
func TestRevertAfterThatFellDueWhileDownRunsLate(t *testing.T) {
	home := newFakeHome(map[string]map[string]any{"Lamp": {"power": "OFF", "brightness": 10.0}})
	h := newHomeHarness(t, map[string]string{"r.lua": `
return rule "night" {
  when = event "go",
  run = function(ctx, ev) assert(device("Lamp"):on { revert_after = "10m" }) end,
}`}, home)
	h.emit("go", nil)
	h.waitRuns(1, ofRule("night"))
	h.stop()
	h.clock.Advance(time.Hour)
	h.start()
	rv := h.waitRuns(2, ofRule("night"))[1]
	if rv.Handler != engine.RevertHandler || !rv.Late || rv.Outcome != engine.OutcomeOK {
		t.Fatalf("late revert: %+v", rv)
	}
	if got := home.sent(); !slices.Equal(got, []string{"Lamp turnOn", "Lamp turnOff"}) {
		t.Fatalf("sent %v", got)
	}
}
