package engine_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/enginetest"
	"github.com/alexarules/alexarules/engine/store"
)

var d0 = time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)

// funcInstance runs fn.
type funcInstance func(ctx context.Context, inv *engine.Invocation) engine.Result

func (f funcInstance) Run(ctx context.Context, inv *engine.Invocation) engine.Result {
	return f(ctx, inv)
}
func (funcInstance) Close() {}

func goRule(id string, mode engine.Mode, max int, fn funcInstance) *engine.Rule {
	return &engine.Rule{ID: id, File: id + ".lua", Enabled: true, Mode: mode, Max: max, Timeout: time.Minute,
		Triggers:    []engine.Trigger{{Kind: engine.KindCustom, Keys: []string{"go"}}},
		NewInstance: func() (engine.Instance, error) { return fn, nil }}
}

// recorder keeps the traces of finished runs.
type recorder struct {
	mu     sync.Mutex
	traces []engine.Trace
}

func (r *recorder) onRun(tr engine.Trace) {
	r.mu.Lock()
	r.traces = append(r.traces, tr)
	r.mu.Unlock()
}

// wait polls until n traces pass keep, or fails the test after a deadline.
func (r *recorder) wait(t *testing.T, n int, keep func(engine.Trace) bool) []engine.Trace {
	t.Helper()
	var got []engine.Trace
	enginetest.WaitUntil(t, fmt.Sprintf("%d traces", n), func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		got = got[:0]
		for _, tr := range r.traces {
			if keep(tr) {
				got = append(got, tr)
			}
		}
		return len(got) >= n
	})
	return got
}

func ofRule(rule string) func(engine.Trace) bool {
	return func(tr engine.Trace) bool { return tr.Rule == rule && tr.Handler == "" }
}

// startEngine runs an engine on st with rules until the test ends.
func startEngine(t *testing.T, st engine.Store, clock engine.Clock, cfg engine.Config, rules ...*engine.Rule) (*engine.Engine, *recorder) {
	t.Helper()
	rec := &recorder{}
	cfg.Store, cfg.Clock, cfg.OnRun = st, clock, rec.onRun
	e := engine.New(cfg)
	if err := e.SetRules(rules); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return e, rec
}

func openStore(t *testing.T, path string) *store.Store {
	t.Helper()
	st, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func waitInboxEmpty(t *testing.T, st *store.Store) {
	t.Helper()
	enginetest.WaitUntil(t, "an empty inbox", func() bool {
		p, err := st.Inbox()
		if err != nil {
			t.Fatal(err)
		}
		return len(p) == 0
	})
}

func noop(context.Context, *engine.Invocation) engine.Result { return engine.Result{} }

func TestAcceptedEventsRunOnceAfterACrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	st := openStore(t, path)
	// The engine that accepts never runs: the events are journaled and
	// then the process "dies" before any run.
	crashed := engine.New(engine.Config{Store: st, Clock: engine.NewVirtual(d0)})
	if err := crashed.SetRules([]*engine.Rule{goRule("a", engine.ModeQueued, 10, noop), goRule("b", engine.ModeQueued, 10, noop)}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for range 3 {
		ev, err := crashed.Accept(engine.Event{Kind: engine.KindCustom, Name: "go"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.ID)
	}
	// Rule a finished the first event before the crash.
	done := engine.Trace{ID: "run-a", Rule: "a", EventID: ids[0], Started: d0, Outcome: engine.OutcomeOK}
	if err := st.Commit(engine.Commit{Rule: "a", Trace: done}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st = openStore(t, path)
	_, rec := startEngine(t, st, engine.NewVirtual(d0), engine.Config{},
		goRule("a", engine.ModeQueued, 10, noop), goRule("b", engine.ModeQueued, 10, noop))
	a := rec.wait(t, 2, ofRule("a"))
	b := rec.wait(t, 3, ofRule("b"))
	if got := eventIDs(a); !slices.Equal(got, ids[1:]) {
		t.Errorf("rule a ran %v, want %v (the first was done before the crash)", got, ids[1:])
	}
	if got := eventIDs(b); !slices.Equal(got, ids) {
		t.Errorf("rule b ran %v, want %v in order", got, ids)
	}
	for _, tr := range append(a, b...) {
		if tr.Reason != "replayed after restart" {
			t.Errorf("trace %+v lacks the replay reason", tr)
		}
	}
	waitInboxEmpty(t, st)
}

func eventIDs(traces []engine.Trace) []string {
	var out []string
	for _, tr := range traces {
		out = append(out, tr.EventID)
	}
	return out
}

// gate blocks runs of events until release is closed; started receives
// the id of each event whose run began.
type gate struct {
	release chan struct{}
	started chan string
}

func newGate() *gate { return &gate{release: make(chan struct{}), started: make(chan string, 100)} }

func (g *gate) run(ctx context.Context, inv *engine.Invocation) engine.Result {
	if inv.Handler == "" {
		g.started <- inv.Event.ID
		<-g.release
	}
	return engine.Result{}
}

func (g *gate) waitStarted(t *testing.T, id string) {
	t.Helper()
	select {
	case got := <-g.started:
		if got != id {
			t.Fatalf("run of %s started, want %s", got, id)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("run of %s did not start", id)
	}
}

func accept(t *testing.T, e *engine.Engine) string {
	t.Helper()
	ev, err := e.Accept(engine.Event{Kind: engine.KindCustom, Name: "go"})
	if err != nil {
		t.Fatal(err)
	}
	return ev.ID
}

// gatedEngine runs one queued rule "q" whose runs wait for the gate,
// released when the test ends.
func gatedEngine(t *testing.T, backlog, max int) (*engine.Engine, *store.Store, *gate) {
	t.Helper()
	st := openStore(t, filepath.Join(t.TempDir(), "a.db"))
	t.Cleanup(func() { st.Close() })
	g := newGate()
	e, _ := startEngine(t, st, engine.NewVirtual(d0), engine.Config{MaxBacklog: backlog},
		goRule("q", engine.ModeQueued, max, g.run))
	t.Cleanup(func() { close(g.release) }) // runs before the engine stops
	return e, st, g
}

func TestAcceptRefusesWithoutWritingWhenFull(t *testing.T) {
	e, st, g := gatedEngine(t, 3, 1)
	first := accept(t, e)
	g.waitStarted(t, first)
	accept(t, e) // waits in q's queue, which is now full
	if _, err := e.Accept(engine.Event{Kind: engine.KindCustom, Name: "go"}); !errors.Is(err, engine.ErrOverloaded) {
		t.Fatalf("accept into a full queued rule: %v, want ErrOverloaded", err)
	}
	// An event no rule takes is not held back by q's queue, and fills the
	// backlog to its limit only when it matches.
	if _, err := e.Accept(engine.Event{Kind: engine.KindCustom, Name: "other"}); err != nil {
		t.Fatalf("accept of an unmatched event: %v", err)
	}
	if p, err := st.Inbox(); err != nil || len(p) != 2 {
		t.Fatalf("inbox %d, %v; want the 2 accepted events only", len(p), err)
	}
}

func TestAcceptRefusesBeyondTheBacklog(t *testing.T) {
	e, st, _ := gatedEngine(t, 2, 100)
	accept(t, e)
	accept(t, e)
	if _, err := e.Accept(engine.Event{Kind: engine.KindCustom, Name: "go"}); !errors.Is(err, engine.ErrOverloaded) {
		t.Fatalf("accept beyond the backlog: %v, want ErrOverloaded", err)
	}
	if p, err := st.Inbox(); err != nil || len(p) != 2 {
		t.Fatalf("inbox %d, %v; the refused event must not be written", len(p), err)
	}
}

// waitReloaded waits until the engine lists the rule from file (or none).
func waitReloaded(t *testing.T, e *engine.Engine, file string) {
	t.Helper()
	enginetest.WaitUntil(t, "the reload to swap the rules in", func() bool {
		rules := e.Rules()
		return len(rules) == 0 || rules[0].File == file
	})
}

func TestReloadHandsQueuedJobsToTheNewRunner(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "a.db"))
	t.Cleanup(func() { st.Close() })
	clock := engine.NewVirtual(d0)
	timer := engine.TimerRecord{ID: "q/t", Rule: "q", Handler: "tick", Due: d0.Add(time.Minute), Created: d0}
	if err := st.Commit(engine.Commit{Rule: "q", PutTimers: []engine.TimerRecord{timer}}); err != nil {
		t.Fatal(err)
	}
	g := newGate()
	e, rec := startEngine(t, st, clock, engine.Config{}, goRule("q", engine.ModeQueued, 10, g.run))
	first := accept(t, e)
	g.waitStarted(t, first)
	queued := []string{accept(t, e), accept(t, e)}
	clock.Advance(time.Minute) // the timer's handler run waits behind the busy run

	next := goRule("q", engine.ModeQueued, 10, noop)
	next.File = "v2.lua"
	reloaded := make(chan error, 1)
	go func() { reloaded <- e.Reload([]*engine.Rule{next}) }()
	waitReloaded(t, e, "v2.lua")
	newer := accept(t, e)
	close(g.release)
	if err := <-reloaded; err != nil {
		t.Fatal(err)
	}
	runs := rec.wait(t, 4, ofRule("q"))
	if got, want := eventIDs(runs), append(append([]string{first}, queued...), newer); !slices.Equal(got, want) {
		t.Errorf("runs %v, want %v", got, want)
	}
	rec.wait(t, 1, func(tr engine.Trace) bool { return tr.Handler == "tick" && tr.Outcome == engine.OutcomeOK })
	if timers, err := st.Timers(); err != nil || len(timers) != 0 {
		t.Errorf("the handler run did not commit: timers %+v, %v", timers, err)
	}
	waitInboxEmpty(t, st)
}

func TestReloadTracesJobsOfARemovedRule(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "a.db"))
	t.Cleanup(func() { st.Close() })
	g := newGate()
	e, rec := startEngine(t, st, engine.NewVirtual(d0), engine.Config{}, goRule("q", engine.ModeQueued, 10, g.run))
	first := accept(t, e)
	g.waitStarted(t, first)
	queued := accept(t, e)
	reloaded := make(chan error, 1)
	go func() { reloaded <- e.Reload(nil) }()
	waitReloaded(t, e, "")
	close(g.release)
	if err := <-reloaded; err != nil {
		t.Fatal(err)
	}
	dropped := rec.wait(t, 1, func(tr engine.Trace) bool { return tr.Reason == "rule removed by reload" })
	if dropped[0].EventID != queued || dropped[0].Outcome != engine.OutcomeSkipped {
		t.Errorf("dropped trace %+v, want one for %s", dropped[0], queued)
	}
	waitInboxEmpty(t, st)
}

func TestALevelTriggerThatFiredRunsAfterACrashBeforeItsRun(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	hot := func(id string, fn funcInstance) *engine.Rule {
		r := goRule(id, engine.ModeQueued, 10, fn)
		r.Triggers = []engine.Trigger{{Kind: engine.KindReading,
			Level: func(ev *engine.Event) bool { v, _ := ev.Data["value"].(float64); return v > 10 }}}
		return r
	}
	st := openStore(t, path)
	g := newGate()
	rec := &recorder{}
	e := engine.New(engine.Config{Store: st, Clock: engine.NewVirtual(d0), OnRun: rec.onRun})
	if err := e.SetRules([]*engine.Rule{hot("hot", g.run)}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	ev, err := e.Accept(engine.Event{Kind: engine.KindReading, Device: &engine.Device{ID: "t1"}, Data: map[string]any{"value": 20.0}})
	if err != nil {
		t.Fatal(err)
	}
	g.waitStarted(t, ev.ID)
	// The process dies during the run: nothing it would commit lands.
	cancel()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	close(g.release)
	<-done

	st = openStore(t, path)
	t.Cleanup(func() { st.Close() })
	_, rec2 := startEngine(t, st, engine.NewVirtual(d0), engine.Config{}, hot("hot", noop))
	runs := rec2.wait(t, 1, ofRule("hot"))
	if runs[0].EventID != ev.ID || runs[0].Outcome != engine.OutcomeOK {
		t.Fatalf("after the crash: %+v", runs)
	}
	waitInboxEmpty(t, st)
}

// An event's records (engine.Event.Writes) are written whether or not a
// rule takes the event: with the inbox write when one does, alone when
// none does.
func TestPublishWritesAnEventsRecords(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "w.db"))
	t.Cleanup(func() { st.Close() })
	rule := goRule("r", engine.ModeQueued, 10, noop)
	rule.Triggers = []engine.Trigger{{Kind: engine.KindAlarm}}
	e, rec := startEngine(t, st, engine.NewVirtual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), engine.Config{}, rule)
	e.Publish(engine.Event{Kind: engine.KindAlarm, Writes: []engine.Write{{Bucket: "notify", Key: "taken", Value: []byte{1}}}})
	e.Publish(engine.Event{Kind: engine.KindTimer, Writes: []engine.Write{{Bucket: "notify", Key: "untaken", Value: []byte{1}}}})
	rec.wait(t, 1, ofRule("r"))
	for _, key := range []string{"taken", "untaken"} {
		enginetest.WaitUntil(t, "the record "+key, func() bool { v, err := st.Get("notify", key); return err == nil && v != nil })
	}
}

// Refused events are logged once per rule per interval with their count,
// not once each.
func TestRefusalsAreLoggedPerRulePerInterval(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "a.db"))
	t.Cleanup(func() { st.Close() })
	g := newGate()
	clock := engine.NewVirtual(d0)
	var logs enginetest.LogBuffer
	e, _ := startEngine(t, st, clock, engine.Config{MaxBacklog: 1, Log: logs.Logger(slog.LevelInfo)},
		goRule("q", engine.ModeQueued, 100, g.run))
	t.Cleanup(func() { close(g.release) })
	g.waitStarted(t, accept(t, e))
	for range 50 {
		if _, err := e.Accept(engine.Event{Kind: engine.KindCustom, Name: "go"}); !errors.Is(err, engine.ErrOverloaded) {
			t.Fatalf("accept beyond the backlog: %v, want ErrOverloaded", err)
		}
	}
	if strings.Contains(logs.String(), "events refused") {
		t.Fatalf("refusals logged before the interval ended:\n%s", logs.String())
	}
	clock.Advance(engine.RefusalLogInterval)
	out := logs.String()
	if n := strings.Count(out, "events refused"); n != 1 || !strings.Contains(out, "rule=q refused=50 ") {
		t.Fatalf("%d refusal lines; want one for rule q with refused=50:\n%s", n, out)
	}
	if _, err := e.Accept(engine.Event{Kind: engine.KindCustom, Name: "go"}); !errors.Is(err, engine.ErrOverloaded) {
		t.Fatal(err)
	}
	clock.Advance(engine.RefusalLogInterval)
	if out := logs.String(); strings.Count(out, "events refused") != 2 || !strings.Contains(out, "rule=q refused=1 ") {
		t.Fatalf("the next interval's line is missing:\n%s", out)
	}
}

// WaitRoom holds a source back while the backlog is full and lets it go
// once a run finishes; a cancelled wait returns the context's error.
func TestWaitRoomWaitsForTheBacklogToDrain(t *testing.T) {
	e, _, g := gatedEngine(t, 1, 100)
	if err := e.WaitRoom(context.Background()); err != nil {
		t.Fatalf("room in an empty backlog: %v", err)
	}
	first := accept(t, e)
	g.waitStarted(t, first)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.WaitRoom(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait on a full backlog: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- e.WaitRoom(context.Background()) }()
	select {
	case err := <-done:
		t.Fatalf("WaitRoom returned %v while the backlog is full", err)
	default:
	}
	g.release <- struct{}{} // the run finishes: its event leaves the backlog
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// held is an AcceptWithin's answer.
type held struct {
	ev  engine.Event
	err error
}

// holdAccept starts an AcceptWithin (a minute's wait) of a "go" event on
// e, whose backlog is full, and returns once it waits for room; its
// answer comes on the channel.
func holdAccept(t *testing.T, e *engine.Engine) <-chan held {
	t.Helper()
	done := make(chan held, 1)
	go func() {
		ev, err := e.AcceptWithin(context.Background(), engine.Event{Kind: engine.KindCustom, Name: "go"}, time.Minute)
		done <- held{ev, err}
	}()
	enginetest.WaitUntil(t, "the accept to wait for room", func() bool { return e.Backlog().Waiting == 1 })
	return done
}

// heldAccept fills a backlog of 8 behind a gated queued rule (its first
// run started) and holds an accept waiting for room (holdAccept).
func heldAccept(t *testing.T) (*engine.Engine, *gate, <-chan held) {
	t.Helper()
	e, _, g := gatedEngine(t, 8, 100)
	first := accept(t, e)
	for range 7 {
		accept(t, e)
	}
	g.waitStarted(t, first)
	return e, g, holdAccept(t, e)
}

// A full backlog wakes its waiters once it is an eighth below its limit,
// not at each finished run: at capacity each finished run would otherwise
// wake every waiter.
func TestAFullBacklogWakesAnEighthBelowItsLimit(t *testing.T) {
	e, g, done := heldAccept(t)
	g.release <- struct{}{}
	enginetest.WaitUntil(t, "the first run to leave the backlog", func() bool { return e.Backlog().Events == 7 })
	select {
	case r := <-done:
		t.Fatalf("the waiting accept returned (%v) with 7 of 8 in the backlog; want it to wait for 6", r.err)
	default:
	}
	<-g.started
	g.release <- struct{}{}
	if r := <-done; r.err != nil {
		t.Fatal(r.err)
	}
	if b := e.Backlog(); b.Events != 7 || b.Limit != 8 || b.Waiting != 0 {
		t.Fatalf("backlog %+v, want 7 of 8 (6 and the waited one), none waiting", b)
	}
}

// AcceptWithin holds an event while the backlog is full and accepts it
// once there is room; a wait that ends first refuses it as Accept does,
// and counts one refusal, not one per wake-up.
func TestAcceptWithinWaitsForRoom(t *testing.T) {
	e, st, g := gatedEngine(t, 1, 100)
	first := accept(t, e)
	g.waitStarted(t, first)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.AcceptWithin(ctx, engine.Event{Kind: engine.KindCustom, Name: "go"}, time.Minute); !errors.Is(err, engine.ErrOverloaded) {
		t.Fatalf("accept with an ended context into a full backlog: %v, want ErrOverloaded", err)
	}
	if _, err := e.AcceptWithin(context.Background(), engine.Event{Kind: engine.KindCustom, Name: "go"}, time.Millisecond); !errors.Is(err, engine.ErrOverloaded) {
		t.Fatalf("accept whose wait ends first: %v, want ErrOverloaded", err)
	}
	if n := gathered(t, e, "alexarules_events_refused_total"); n != 2 {
		t.Fatalf("%v refusals counted, want 2", n)
	}
	done := holdAccept(t, e)
	if w, n := gathered(t, e, "alexarules_accepts_waiting"), gathered(t, e, "alexarules_backlog_events"); w != 1 || n != 1 {
		t.Fatalf("/metrics shows %v waiting and %v in the backlog, want 1 and 1", w, n)
	}
	g.release <- struct{}{} // the first run finishes: room for one
	r := <-done
	if r.err != nil {
		t.Fatalf("accept after the wait: %v", r.err)
	}
	g.waitStarted(t, r.ev.ID)
	if p, err := st.Inbox(); err != nil || len(p) != 1 || p[0].Event.ID != r.ev.ID {
		t.Fatalf("inbox %+v, %v; want the waited event only", p, err)
	}
	if b := e.Backlog(); b.Waiting != 0 {
		t.Fatalf("backlog %+v, want no waiter left", b)
	}
}

// Room that comes while admissions and sources wait goes to them, not to
// accepts that come later: a later Accept is refused until the backlog
// is an eighth below its limit, and then the waiters wake. (A review
// found both starved for as long as later accepts came.)
func TestWaitersAreNotOvertakenByLaterAccepts(t *testing.T) {
	e, g, held := heldAccept(t)
	source := make(chan error, 1)
	go func() { source <- e.WaitRoom(context.Background()) }() // a push or poll source
	g.release <- struct{}{}
	enginetest.WaitUntil(t, "a run to leave the backlog", func() bool { return e.Backlog().Events == 7 })
	if _, err := e.Accept(engine.Event{Kind: engine.KindCustom, Name: "go"}); !errors.Is(err, engine.ErrOverloaded) {
		t.Fatalf("a later accept while others wait: %v, want ErrOverloaded", err)
	}
	<-g.started
	g.release <- struct{}{} // 6 of 8: an eighth below the limit
	if r := <-held; r.err != nil {
		t.Fatalf("the held accept: %v", r.err)
	}
	if err := <-source; err != nil {
		t.Fatalf("the waiting source: %v", err)
	}
}

// An admission held for room is routed after its wait: a reload meanwhile
// decides which rules it goes to. (Found by review.)
func TestAHeldAcceptGoesToTheRulesAfterItsWait(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "a.db"))
	t.Cleanup(func() { st.Close() })
	g := newGate()
	e, rec := startEngine(t, st, engine.NewVirtual(d0), engine.Config{MaxBacklog: 1}, goRule("q", engine.ModeQueued, 10, g.run))
	g.waitStarted(t, accept(t, e))
	done := holdAccept(t, e)
	reloaded := make(chan error, 1)
	go func() {
		reloaded <- e.Reload([]*engine.Rule{goRule("q", engine.ModeQueued, 10, noop), goRule("n", engine.ModeQueued, 10, noop)})
	}()
	enginetest.WaitUntil(t, "the reload to swap the rules in", func() bool { return len(e.Rules()) == 2 })
	close(g.release)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if err := <-reloaded; err != nil {
		t.Fatal(err)
	}
	rec.wait(t, 1, func(tr engine.Trace) bool { return tr.Rule == "n" && tr.EventID == r.ev.ID })
}

// gathered is the value of the engine's unlabelled metric name.
func gathered(t *testing.T, e *engine.Engine, name string) float64 {
	t.Helper()
	families, err := e.Metrics().Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		m := f.GetMetric()[0]
		if c := m.GetCounter(); c != nil {
			return c.GetValue()
		}
		return m.GetGauge().GetValue()
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// Accepts racing for the last places of a queued rule's queue are never
// all answered 202: a place is reserved while the event is journaled, so
// no accepted event is then skipped as "queue full". One run at a time
// (held by the gate) and max waiting: at most max+1 accepted.
func TestRacingAcceptsDoNotOverfillAQueuedRule(t *testing.T) {
	const max = 3
	e, _, _ := gatedEngine(t, 1000, max)
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			if _, err := e.Accept(engine.Event{Kind: engine.KindCustom, Name: "go"}); err == nil {
				ok.Add(1)
			} else if !errors.Is(err, engine.ErrOverloaded) {
				t.Errorf("accept: %v", err)
			}
		})
	}
	wg.Wait()
	if n := ok.Load(); n > max+1 || n < max {
		t.Fatalf("%d accepted, want at most %d (one running, %d waiting) and at least %d", n, max+1, max, max)
	}
}

// completions wraps the bbolt store and records how events were
// completed: by the commit of their last run (Commit.Complete) or by a
// separate Complete.
type completions struct {
	*store.Store
	mu       sync.Mutex
	byCommit []string
	alone    []string
}

func (c *completions) Commit(cm engine.Commit) error {
	if cm.Complete != "" {
		c.mu.Lock()
		c.byCommit = append(c.byCommit, cm.Complete)
		c.mu.Unlock()
	}
	return c.Store.Commit(cm)
}

func (c *completions) Complete(id string) {
	c.mu.Lock()
	c.alone = append(c.alone, id)
	c.mu.Unlock()
	c.Store.Complete(id)
}

// The last run of an event completes it in its own commit when it
// commits (it called out); an event whose last run commits nothing is
// completed on its own. Either way the inbox ends empty and each event is
// completed once. (With two rules, the run that claims the event's last
// job commits the completion and the other writes its done mark:
// TestCommitCompletesItsEventAcrossACrash in engine/store.)
func TestTheLastRunsCommitCompletesTheEvent(t *testing.T) {
	st := &completions{Store: openStore(t, filepath.Join(t.TempDir(), "c.db"))}
	t.Cleanup(func() { st.Close() })
	callOut := func(_ context.Context, inv *engine.Invocation) engine.Result {
		if inv.Event.Data["call"] == true {
			return engine.Result{Actions: []engine.Action{{Call: "set_power", Device: "Lamp"}}}
		}
		return engine.Result{}
	}
	e, rec := startEngine(t, st, engine.NewVirtual(d0), engine.Config{},
		goRule("a", engine.ModeQueued, 4, callOut))
	calling, err := e.Accept(engine.Event{Kind: engine.KindCustom, Name: "go", Data: map[string]any{"call": true}})
	if err != nil {
		t.Fatal(err)
	}
	quiet, err := e.Accept(engine.Event{Kind: engine.KindCustom, Name: "go"})
	if err != nil {
		t.Fatal(err)
	}
	rec.wait(t, 2, func(tr engine.Trace) bool { return tr.Outcome == engine.OutcomeOK })
	waitInboxEmpty(t, st.Store)
	st.mu.Lock()
	defer st.mu.Unlock()
	if !slices.Equal(st.byCommit, []string{calling.ID}) || !slices.Equal(st.alone, []string{quiet.ID}) {
		t.Fatalf("completed by a commit %v, alone %v; want %s by its last run's commit and %s alone",
			st.byCommit, st.alone, calling.ID, quiet.ID)
	}
}
