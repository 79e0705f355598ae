package engine_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
)

// Review: once CPULimit.Bound turns false, events the cap held back should
// start (up to max) without waiting for a run in progress to finish: the
// runs holding the cap may be long (waiting on Amazon, up to the rule's
// timeout) and no new event may come.
func TestCappedRuleStartsHeldBackEventsOnceTheCPUsAreFree(t *testing.T) {
	in := newInstances()
	in.gate = make(chan struct{})
	var bound atomic.Bool
	bound.Store(true)
	r := in.rule("p", engine.ModeParallel, 4)
	e := runEngine(t, engine.Config{Store: &memStore{}, CPULimit: engine.CPULimit{Runs: 1, Bound: bound.Load}},
		[]*engine.Rule{r})
	for i := range 3 {
		e.Publish(engine.Event{ID: fmt.Sprint("p-", i), Kind: engine.KindCustom, Name: "p"})
	}
	running := func() int { in.mu.Lock(); defer in.mu.Unlock(); return in.running }
	deadline := time.Now().Add(2 * time.Second)
	for running() != 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	bound.Store(false) // the CPUs are free again; the one run still waits on its gate
	deadline = time.Now().Add(time.Second)
	for running() != 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	got := running()
	for range 3 - got { // let the held-back events run so the engine can stop
		in.gate <- struct{}{}
		<-in.ran
	}
	for range got {
		in.gate <- struct{}{}
		<-in.ran
	}
	if got != 3 {
		t.Fatalf("%d runs in progress a second after Bound turned false, want 3 (the held-back events wait for a run to finish)", got)
	}
}

// Review: a reload while the cap holds events back hands them to the new
// runner, which runs them (none dropped or lost).
func TestReviewCappedRuleReloadKeepsHeldBackEvents(t *testing.T) {
	in := newInstances()
	in.gate = make(chan struct{})
	var bound atomic.Bool
	bound.Store(true)
	e := runEngine(t, engine.Config{Store: &memStore{}, CPULimit: engine.CPULimit{Runs: 1, Bound: bound.Load}},
		[]*engine.Rule{in.rule("p", engine.ModeParallel, 4)})
	for i := range 4 {
		e.Publish(engine.Event{ID: fmt.Sprint("p-", i), Kind: engine.KindCustom, Name: "p"})
	}
	running := func(n int) func() bool {
		return func() bool { in.mu.Lock(); defer in.mu.Unlock(); return in.running == n }
	}
	waitUntil(t, running(1))
	done := make(chan error, 1)
	go func() { done <- e.Reload([]*engine.Rule{in.rule("p", engine.ModeParallel, 4)}) }()
	time.Sleep(50 * time.Millisecond)
	for range 4 {
		in.gate <- struct{}{}
		<-in.ran
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { r := e.Rules()[0]; return r.Runs == 3 || r.Runs == 4 })
	if r := e.Rules()[0]; r.Dropped != 0 || r.Skipped != 0 {
		t.Fatalf("dropped %d skipped %d", r.Dropped, r.Skipped)
	}
}

func waitUntil(t *testing.T, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
}
