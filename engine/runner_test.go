package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
)

// ctxInstance reports what a run saw of its context through seen.
type ctxInstance struct {
	seen chan<- ctxReport
}

type ctxReport struct {
	event       string
	deadline    time.Duration // from the run's start; 0: none
	errAtEnd    error         // ctx.Err() when the run returned
	derived     context.Context
	derivedStop context.CancelFunc
}

func (c ctxInstance) Run(ctx context.Context, inv *engine.Invocation) engine.Result {
	rep := ctxReport{event: inv.Event.ID}
	if d, ok := ctx.Deadline(); ok {
		rep.deadline = time.Until(d)
	}
	// A context derived from the run's, as an HTTP call of a bound
	// function derives one, must end with the run.
	rep.derived, rep.derivedStop = context.WithCancel(ctx)
	if inv.Event.Name == "block" {
		<-ctx.Done()
	}
	rep.errAtEnd = ctx.Err()
	c.seen <- rep
	return engine.Result{}
}
func (ctxInstance) Close() {}

func TestRunContextHasTheDeadlineAndEndsWithTheRun(t *testing.T) {
	const timeout = 200 * time.Millisecond
	seen := make(chan ctxReport, 4)
	store := &memStore{}
	e := engine.New(engine.Config{Store: store})
	err := e.SetRules([]*engine.Rule{{ID: "r", Enabled: true, Mode: engine.ModeQueued, Max: 10, Timeout: timeout,
		Triggers:    []engine.Trigger{{Kind: engine.KindCustom}},
		NewInstance: func() (engine.Instance, error) { return ctxInstance{seen: seen}, nil }}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = e.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	next := func() ctxReport {
		t.Helper()
		select {
		case r := <-seen:
			return r
		case <-time.After(5 * time.Second):
			t.Fatal("no run")
		}
		return ctxReport{}
	}
	// Blocking runs end at their deadline, twice on the same worker (its
	// deadline timer is re-armed); quick runs in between are not cut short.
	for i, name := range []string{"block", "quick", "block", "quick"} {
		e.Publish(engine.Event{ID: fmt.Sprint("e", i), Kind: engine.KindCustom, Name: name})
		r := next()
		if r.deadline <= 0 || r.deadline > timeout {
			t.Errorf("%s: deadline %v from the start, want within %v", name, r.deadline, timeout)
		}
		want := error(nil)
		if name == "block" {
			want = context.DeadlineExceeded
		}
		if !errors.Is(r.errAtEnd, want) {
			t.Errorf("%s: ctx.Err() = %v at the end of the run, want %v", name, r.errAtEnd, want)
		}
		select {
		case <-r.derived.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: a context derived from the run's did not end with the run", name)
		}
		r.derivedStop()
	}
	cancel()
	<-done
	outcomes := map[string]string{}
	store.mu.Lock()
	for _, tr := range store.traces {
		outcomes[tr.EventID] = tr.Outcome
	}
	store.mu.Unlock()
	want := map[string]string{"e0": engine.OutcomeTimeout, "e1": engine.OutcomeOK, "e2": engine.OutcomeTimeout, "e3": engine.OutcomeOK}
	for id, o := range want {
		if outcomes[id] != o {
			t.Errorf("event %s: outcome %q, want %q", id, outcomes[id], o)
		}
	}
}

// gateInstance blocks every run until release is closed.
type gateInstance struct{ release <-chan struct{} }

func (g gateInstance) Run(ctx context.Context, inv *engine.Invocation) engine.Result {
	<-g.release
	return engine.Result{}
}
func (gateInstance) Close() {}

func TestABusyRuleLosesNoEventHoweverManyWait(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	traces := make(chan engine.Trace, 1000)
	e := engine.New(engine.Config{Store: &memStore{}, OnRun: func(tr engine.Trace) {
		// The first skipped run holds the rule's coordinator here, so
		// the events after it pile up in its queue.
		if tr.Outcome == engine.OutcomeSkipped {
			once.Do(func() { <-release })
		}
		traces <- tr
	}})
	err := e.SetRules([]*engine.Rule{{ID: "r", Enabled: true, Mode: engine.ModeSingle, Timeout: time.Minute,
		Triggers:    []engine.Trigger{{Kind: engine.KindCustom}},
		NewInstance: func() (engine.Instance, error) { return gateInstance{release: release}, nil }}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = e.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	const n = 600 // more than the 256 a rule's inbox held before
	for range n {
		e.Publish(engine.Event{Kind: engine.KindCustom, Name: "x"})
	}
	close(release)
	deadline := time.After(10 * time.Second)
	for got := range n {
		select {
		case <-traces:
		case <-deadline:
			t.Fatalf("%d traces and %d drops, want a trace for each of %d events", got, e.Rules()[0].Dropped, n)
		}
	}
	if d := e.Rules()[0].Dropped; d != 0 {
		t.Fatalf("dropped %d of %d events", d, n)
	}
}

// A rule without a mode runs as single (the default); an unknown mode is
// refused by SetRules instead of swallowing the rule's events.
func TestRuleModeDefaultsToSingleAndUnknownIsRefused(t *testing.T) {
	e := engine.New(engine.Config{})
	if err := e.SetRules([]*engine.Rule{{ID: "r", Enabled: true, Mode: "sometimes"}}); err == nil ||
		!strings.Contains(err.Error(), `unknown mode "sometimes"`) {
		t.Fatalf("SetRules with an unknown mode: %v", err)
	}
	if err := e.SetRules([]*engine.Rule{{ID: "r", Enabled: true}}); err != nil {
		t.Fatalf("SetRules without a mode: %v", err)
	}
}

// Run lets the runs in progress finish before it returns, their traces
// shown (OnRun) included: a worker hands itself back before it shows its
// trace, and the coordinator may stop in between.
func TestRunReturnsAfterTheLastTraceIsShown(t *testing.T) {
	entered, release, shown := make(chan struct{}), make(chan struct{}), make(chan struct{})
	e := engine.New(engine.Config{Store: &memStore{}, OnRun: func(engine.Trace) {
		close(entered)
		<-release
		close(shown)
	}})
	open := make(chan struct{})
	close(open)
	err := e.SetRules([]*engine.Rule{{ID: "r", Enabled: true, Mode: engine.ModeSingle, Timeout: time.Minute,
		Triggers:    []engine.Trigger{{Kind: engine.KindCustom}},
		NewInstance: func() (engine.Instance, error) { return gateInstance{release: open}, nil }}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = e.Run(ctx); close(done) }()
	e.Publish(engine.Event{Kind: engine.KindCustom, Name: "x"})
	<-entered
	cancel()
	// Run must not return while OnRun holds the trace: give a wrong Run
	// the time to return (a correct one waits for release).
	select {
	case <-done:
		t.Error("Run returned while the last run's trace was still being shown")
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	<-done
	<-shown
}
