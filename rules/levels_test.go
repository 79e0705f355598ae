package rules_test

import (
	"context"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/rules"
)

func reading(h *harness, dev string, attr string, value, previous any) {
	data := map[string]any{"attr": attr, "value": value}
	if previous != nil {
		data["previous"] = previous
	}
	h.publish(engine.Event{Kind: engine.KindReading, Device: &engine.Device{Name: dev, ID: "id-" + dev}, Data: data})
}

// settle waits until published events have passed the trigger state
// machines, so holds are armed before the virtual clock moves.
func (h *harness) settle() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.engine.SyncTriggers(ctx); err != nil {
		h.t.Fatal(err)
	}
}

func countRuns(h *harness, rule string) int { return len(h.waitRuns(0, ofRule(rule))) }

func TestHoldFiresOnceAfterTheValueStayedAndResets(t *testing.T) {
	h := newHarness(t, map[string]string{"r.lua": `
return rule "fan" {
  when = reading { device = "Living Room Sensor", attr = "temperature", above = 26, hold = "10m" },
  run = function(ctx, ev) ctx.log.info("%s %g held %d", ev.attr, ev.value, ev.held) end,
}`})
	reading(h, "Living Room Sensor", "temperature", 27.0, 25.0)
	h.settle()
	h.clock.Advance(5 * time.Minute)
	reading(h, "Living Room Sensor", "temperature", 25.5, 27.0) // leaves: the hold resets
	h.settle()
	h.clock.Advance(6 * time.Minute)
	h.settle()
	if n := countRuns(h, "fan"); n != 0 {
		t.Fatalf("fired although the value left the state: %d runs", n)
	}
	reading(h, "Living Room Sensor", "temperature", 26.5, 25.5)
	h.settle()
	h.clock.Advance(9*time.Minute + 59*time.Second)
	h.settle()
	if n := countRuns(h, "fan"); n != 0 {
		t.Fatalf("fired before the hold ended")
	}
	reading(h, "Living Room Sensor", "temperature", 28.0, 26.5) // still matching: no new hold
	h.settle()
	h.clock.Advance(time.Second)
	run := h.waitRuns(1, ofRule("fan"))[0]
	if run.Log[0] != "info: temperature 26.5 held 600" {
		t.Fatalf("run: %+v", run)
	}
	h.clock.Advance(time.Hour)
	reading(h, "Living Room Sensor", "temperature", 29.0, 28.0)
	h.settle()
	if n := countRuns(h, "fan"); n != 1 {
		t.Fatalf("fired %d times while the value stayed above", n)
	}
}

func TestRearmGivesHysteresis(t *testing.T) {
	h := newHarness(t, map[string]string{"r.lua": `
return rule "hot" {
  mode = "queued",
  when = reading { device = "S", attr = "temperature", above = 26, rearm = 25 },
  run = function(ctx, ev) ctx.log.info("%g", ev.value) end,
}`})
	for _, v := range []float64{27, 25.5, 27, 25.2, 26.5} { // never below 25: fires once
		reading(h, "S", "temperature", v, nil)
		h.settle()
	}
	// settle waits for the steps, not for the run they caused. A second
	// run would show as the second of the waitRuns(2) below.
	h.waitRuns(1, ofRule("hot"))
	if n := countRuns(h, "hot"); n != 1 {
		t.Fatalf("must not re-arm above the rearm value: %d runs", n)
	}
	reading(h, "S", "temperature", 24.9, nil)
	h.settle()
	reading(h, "S", "temperature", 26.1, nil)
	runs := h.waitRuns(2, ofRule("hot"))
	if runs[1].Log[0] != "info: 26.1" {
		t.Fatalf("re-armed run: %+v", runs[1])
	}
}

func TestUnreachableWithHold(t *testing.T) {
	h := newHarness(t, map[string]string{"r.lua": `
return rule "porch" {
  when = unreachable { device = "*", hold = "5m" },
  run = function(ctx, ev) ctx.log.info("%s unreachable", ev.device.name) end,
}`})
	reach := func(ok bool) {
		h.publish(engine.Event{Kind: engine.KindReachability, Device: &engine.Device{Name: "Porch Light", ID: "p1"},
			Data: map[string]any{"reachable": ok}})
		h.settle()
	}
	reach(false)
	h.clock.Advance(4 * time.Minute)
	reach(true)
	reach(false)
	h.clock.Advance(4 * time.Minute)
	h.settle()
	if n := countRuns(h, "porch"); n != 0 {
		t.Fatalf("fired before 5 minutes unreachable: %d", n)
	}
	h.clock.Advance(time.Minute)
	if run := h.waitRuns(1, ofRule("porch"))[0]; run.Log[0] != "info: Porch Light unreachable" {
		t.Fatalf("run: %+v", run)
	}
}

func TestARunningHoldSurvivesARestartAndNothingRefires(t *testing.T) {
	h := newHarness(t, map[string]string{"r.lua": `
return {
  rule "held" {
    when = reading { device = "S", attr = "temperature", above = 26, hold = "10m" },
    run = function(ctx, ev) ctx.log.info("held") end,
  },
  rule "edge" {
    when = reading { device = "S", attr = "power", equals = "ON" },
    run = function(ctx, ev) ctx.log.info("on") end,
  },
}`})
	reading(h, "S", "power", "ON", "OFF")
	h.waitRuns(1, ofRule("edge"))
	reading(h, "S", "temperature", 27.0, 25.0)
	h.settle()
	h.clock.Advance(4 * time.Minute)
	h.stop()
	h.clock.Advance(2 * time.Minute) // down for two minutes: four minutes of hold left
	h.mu.Lock()
	h.traces = nil
	h.mu.Unlock()
	h.start()
	// The same values again after the restart are no change.
	reading(h, "S", "power", "ON", "ON")
	reading(h, "S", "temperature", 27.0, 27.0)
	h.settle()
	h.clock.Advance(3*time.Minute + 59*time.Second)
	h.settle()
	if n := countRuns(h, "held"); n != 0 {
		t.Fatalf("the resumed hold fired early")
	}
	h.clock.Advance(time.Second)
	h.waitRuns(1, ofRule("held"))
	h.clock.Advance(time.Hour)
	h.settle()
	if n, e := countRuns(h, "held"), countRuns(h, "edge"); n != 1 || e != 0 {
		t.Fatalf("after restart: held %d runs (want 1), edge %d runs (want 0)", n, e)
	}
}

func TestAReloadKeepsRunningHoldsAndTimers(t *testing.T) {
	h := newHarness(t, map[string]string{"r.lua": `
return rule "held" {
  when = reading { device = "S", attr = "temperature", above = 26, hold = "10m" },
  run = function(ctx, ev) ctx.log.info("held"); ctx.after("1h", "later") end,
  handlers = { later = function(ctx) ctx.log.info("later") end },
}`})
	reading(h, "S", "temperature", 27.0, 25.0)
	h.settle()
	h.clock.Advance(5 * time.Minute)
	set, err := rules.Load(rules.Options{Clock: h.clock, Location: time.UTC}, h.dir)
	if err != nil || len(set.Errors) > 0 {
		t.Fatal(err, set.Errors)
	}
	if err := h.engine.Reload([]*engine.Rule{set.Rules[0].Engine(nil, false)}); err != nil {
		t.Fatal(err)
	}
	h.settle()
	h.clock.Advance(4 * time.Minute)
	h.settle()
	if n := countRuns(h, "held"); n != 0 {
		t.Fatalf("fired early after the reload")
	}
	h.clock.Advance(time.Minute)
	h.waitRuns(1, ofRule("held"))
	h.clock.Advance(time.Hour)
	h.waitRuns(1, func(tr engine.Trace) bool { return tr.Handler == "later" })
}

func TestEqualsTakesNumbersAndTextAndFromTo(t *testing.T) {
	h := newHarness(t, map[string]string{"r.lua": `
return {
  rule "half" { mode = "queued", when = reading { device = "L", attr = "brightness", equals = 50 },
    run = function(ctx, ev) ctx.log.info("half") end },
  rule "on" { mode = "queued", when = reading { device = "L", attr = "power", from = "OFF", to = "ON" },
    run = function(ctx, ev) ctx.log.info("on") end },
}`})
	reading(h, "L", "brightness", 40.0, nil)
	reading(h, "L", "brightness", 50.0, 40.0)
	reading(h, "L", "power", "ON", nil) // unknown before: not from OFF
	reading(h, "L", "power", "OFF", "ON")
	reading(h, "L", "power", "ON", "OFF")
	h.settle()
	h.waitRuns(1, ofRule("half"))
	h.waitRuns(1, ofRule("on"))
	h.settle()
	if a, b := countRuns(h, "half"), countRuns(h, "on"); a != 1 || b != 1 {
		t.Fatalf("half %d, on %d; want 1 and 1", a, b)
	}
}
