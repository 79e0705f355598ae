package rules_test

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/store"
	"github.com/alexarules/alexarules/rules"
	"github.com/alexarules/alexarules/scripting"
)

// gates is a Lua function hold(name) that blocks a run until the test
// opens the gate of that name (or the run's context ends), and tells the
// test which holds have started.
type gates struct {
	mu      sync.Mutex
	open    map[string]chan struct{}
	started chan string
}

func newGates() *gates {
	return &gates{open: map[string]chan struct{}{}, started: make(chan string, 64)}
}

func (g *gates) ch(name string) chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	c, ok := g.open[name]
	if !ok {
		c = make(chan struct{})
		g.open[name] = c
	}
	return c
}

func (g *gates) release(name string) { close(g.ch(name)) }

func (g *gates) bind(L *lua.LState, _ scripting.RunContext) {
	L.SetGlobal("hold", L.NewFunction(func(L *lua.LState) int {
		name := L.CheckString(1)
		g.started <- name
		select {
		case <-g.ch(name):
		case <-L.Context().Done():
		}
		return 0
	}))
}

// waitStarted waits until the holds named have started, in any order.
func (g *gates) waitStarted(t *testing.T, names ...string) {
	t.Helper()
	want := map[string]int{}
	for _, n := range names {
		want[n]++
	}
	deadline := time.After(10 * time.Second)
	for len(want) > 0 {
		select {
		case n := <-g.started:
			if _, ok := want[n]; !ok {
				continue // an earlier hold
			}
			if want[n]--; want[n] == 0 {
				delete(want, n)
			}
		case <-deadline:
			t.Fatalf("holds not started: %v", want)
		}
	}
}

func keyedHarness(t *testing.T, mode string, g *gates) *harness {
	return newHarnessOpts(t, map[string]string{"r.lua": `
return rule "per-device" {
  when = event "motion",
  mode = "` + mode + `",
  max = 1,
  timeout = "30s",
  key = function(ev) return ev.data.dev end,
  run = function(ctx, ev) hold(ev.data.dev .. ev.data.n) end,
}`}, rules.Options{Bind: g.bind})
}

func motion(h *harness, dev string, n int) {
	h.emit("motion", map[string]any{"dev": dev, "n": n})
}

func byReason(part string) func(engine.Trace) bool {
	return func(tr engine.Trace) bool { return strings.Contains(tr.Reason, part) }
}

// Mode single per key: a second event of a busy key is skipped, an event
// of another key runs at once.
func TestKeySingleRunsEachKeyOnItsOwn(t *testing.T) {
	g := newGates()
	h := keyedHarness(t, "single", g)
	motion(h, "a", 1)
	g.waitStarted(t, "a1")
	motion(h, "b", 1)
	g.waitStarted(t, "b1") // not blocked by a's run
	motion(h, "a", 2)
	sk := h.waitRuns(1, byReason("already running"))[0]
	if sk.Outcome != engine.OutcomeSkipped || sk.Reason != `already running (mode single) for key "a"` {
		t.Fatalf("skip: %+v", sk)
	}
	g.release("a1")
	g.release("b1")
	if runs := h.waitRuns(3, ofRule("per-device")); len(runs) != 3 {
		t.Fatalf("runs: %+v", runs)
	}
}

// Mode restart per key: a new event cancels only its own key's run.
func TestKeyRestartCancelsOnlyItsKey(t *testing.T) {
	g := newGates()
	h := keyedHarness(t, "restart", g)
	motion(h, "a", 1)
	motion(h, "b", 1)
	g.waitStarted(t, "a1", "b1")
	motion(h, "a", 2)
	g.waitStarted(t, "a2")
	cancelled := h.waitRuns(1, byReason("cancelled"))[0]
	g.release("a2")
	g.release("b1")
	runs := h.waitRuns(3, ofRule("per-device"))
	ok := 0
	for _, r := range runs {
		if r.Outcome == engine.OutcomeOK {
			ok++
		}
	}
	if ok != 2 || cancelled.Outcome != engine.OutcomeSkipped {
		t.Fatalf("b's run must go on while a restarts: %+v", runs)
	}
}

// Mode queued per key, max 1: each key has its own queue; what waits in
// it is journaled and runs after a restart.
func TestKeyQueuedQueuesPerKeyAndSurvivesARestart(t *testing.T) {
	g := newGates()
	h := keyedHarness(t, "queued", g)
	motion(h, "a", 1)
	motion(h, "b", 1)
	g.waitStarted(t, "a1", "b1")
	motion(h, "a", 2) // waits in a's queue
	motion(h, "b", 2) // waits in b's queue: not full because of a
	motion(h, "a", 3) // a's queue is full
	sk := h.waitRuns(1, byReason("queue full"))[0]
	if sk.Reason != `queue full (max 1) for key "a"` {
		t.Fatalf("skip: %+v", sk)
	}
	for _, n := range []string{"a1", "a2", "b1", "b2"} {
		g.release(n)
	}
	h.waitRuns(5, ofRule("per-device"))

	// Events accepted and not run when the engine stopped (as after a
	// crash) run after the restart, each key in its own queue again.
	h.stop()
	st, err := store.Open(h.db, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range []struct {
		dev string
		n   int
	}{{"a", 3}, {"a", 4}, {"b", 3}} {
		done := make(chan error, 1)
		st.Accept(engine.Event{ID: h.engine.NewID(h.clock.Now()), Kind: engine.KindCustom, Time: h.clock.Now(),
			Name: "motion", Data: map[string]any{"dev": ev.dev, "n": ev.n}}, true, func(_ bool, err error) { done <- err })
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	h.restart()
	g.waitStarted(t, "a3", "b3") // b3 does not wait behind a's queue
	g.release("a3")
	g.waitStarted(t, "a4")
	g.release("a4")
	g.release("b3")
	for _, tr := range h.waitRuns(3, ofRule("per-device")) {
		if tr.Outcome != engine.OutcomeOK || tr.Reason != "replayed after restart" {
			t.Fatalf("replayed run: %+v", tr)
		}
	}
}

func TestKeyErrorsFailTheEventsRun(t *testing.T) {
	h := newHarness(t, map[string]string{"r.lua": `
return rule "k" {
  when = event "x",
  key = function(ev) return { } end,
  run = function() end,
}`})
	h.emit("x", nil)
	tr := h.waitRuns(1, ofRule("k"))[0]
	if tr.Outcome != engine.OutcomeFailed || !strings.Contains(tr.Error, "key: the key function must return a string or a number, got table") {
		t.Fatalf("run: %+v", tr)
	}
}

func TestKeyThrottlesEachKeyOnItsOwn(t *testing.T) {
	h := newHarness(t, map[string]string{"r.lua": `
return rule "notify" {
  when = event "x",
  throttle = "10m",
  key = function(ev) return ev.data.dev end,
  run = function(ctx, ev) ctx.log.info("%s", ev.data.dev) end,
}`})
	for _, dev := range []string{"a", "b", "a"} {
		h.emit("x", map[string]any{"dev": dev})
	}
	runs := h.waitRuns(3, ofRule("notify"))
	var ran []string
	for _, r := range runs {
		if r.Outcome == engine.OutcomeOK {
			ran = append(ran, r.Log[0])
		} else if r.Reason != `throttled (at most one run per 10m0s) for key "a"` {
			t.Fatalf("skip: %+v", r)
		}
	}
	slices.Sort(ran) // different keys run at once: in any order
	if strings.Join(ran, ",") != "info: a,info: b" {
		t.Fatalf("ran %v: b must not be throttled by a", ran)
	}
}

// A key function runs under the same heap budget as the rule's runs: a
// memory bomb in it fails that event's run, and the next event gets a
// fresh key state.
func TestKeyFunctionIsStoppedByTheMemoryBudget(t *testing.T) {
	h := newHarnessOpts(t, map[string]string{"r.lua": `
return rule "k" {
  when = event "x",
  timeout = "60s",
  key = function(ev)
    if ev.data.bomb then
      local t = {}
      for i = 1, 1e9 do t[i] = string.rep("x", 64) .. i end
    end
    return "a"
  end,
  run = function(ctx) ctx.log.info("ran") end,
}`}, rules.Options{Limits: scripting.Limits{HeapGrowth: 64 << 20}})
	h.emit("x", map[string]any{"bomb": true})
	tr := h.waitRuns(1, ofRule("k"))[0]
	if tr.Outcome != engine.OutcomeFailed || !strings.Contains(tr.Error, "key: the key function: ") ||
		!strings.Contains(tr.Error, "memory budget exceeded") {
		t.Fatalf("bomb: %+v", tr)
	}
	h.emit("x", map[string]any{"bomb": false})
	if tr := h.waitRuns(2, ofRule("k"))[1]; tr.Outcome != engine.OutcomeOK {
		t.Fatalf("after the bomb: %+v", tr)
	}
}

// The key function's state starts each event afresh, as a run's does:
// what one call printed or recorded does not count against the next
// call's budget, so the 250th event's print still reaches the log (the
// budget is 200 lines per run).
func TestKeyFunctionBudgetIsPerEvent(t *testing.T) {
	dir := writeFiles(t, map[string]string{"r.lua": `
return rule "k" {
  when = event "x",
  key = function(ev) print("key of " .. ev.data.n) return "a" end,
  run = function() end,
}`})
	set, err := rules.Load(rules.Options{Location: time.UTC}, dir)
	if err != nil || len(set.Errors) > 0 {
		t.Fatal(err, set.Errors)
	}
	var out strings.Builder
	r := set.Rules[0].Engine(slog.New(slog.NewTextHandler(&out, nil)), false)
	const n = 250
	for i := 1; i <= n; i++ {
		if k, err := r.Key(&engine.Event{Kind: engine.KindCustom, Name: "x", Data: map[string]any{"n": i}}, 0); err != nil || k != "a" {
			t.Fatalf("event %d: key %q, %v", i, k, err)
		}
	}
	if !strings.Contains(out.String(), fmt.Sprintf("key of %d", n)) {
		t.Fatalf("the %dth key function's print is missing from the log; the log ends:\n%s", n,
			out.String()[max(0, out.Len()-300):])
	}
}
