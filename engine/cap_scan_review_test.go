package engine_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/enginetest"
)

// Review: a keyed parallel rule held at its cap scans its whole pending
// queue (a map lookup per job) on every finished run: O(backlog) per run.
func TestReviewKeyedCapScanCost(t *testing.T) {
	const events = 6000
	drain := func(keyed bool) time.Duration {
		in := newInstances()
		in.gate = make(chan struct{})
		in.ran = make(chan string, events+10)
		r := in.rule("p", engine.ModeParallel, 2)
		if keyed {
			r.Key = func(ev *engine.Event, _ int) (string, error) { return ev.ID, nil }
		}
		e := runEngine(t, engine.Config{Store: &memStore{}, MaxBacklog: 2 * events,
			CPULimit: engine.CPULimit{Runs: 1, Bound: func() bool { return true }}}, []*engine.Rule{r})
		for i := range events {
			e.Publish(engine.Event{ID: fmt.Sprint("p-", i), Kind: engine.KindCustom, Name: "p"})
		}
		enginetest.WaitUntil(t, "one run", func() bool { in.mu.Lock(); defer in.mu.Unlock(); return in.running == 1 })
		time.Sleep(200 * time.Millisecond) // every event queued
		gate := in.gate
		in.mu.Lock()
		in.gate = nil
		in.mu.Unlock()
		start := time.Now()
		gate <- struct{}{}
		enginetest.WaitUntil(t, "every run", func() bool { return e.Rules()[0].Runs == events })
		return time.Since(start)
	}
	plain, keyed := drain(false), drain(true)
	t.Logf("%d events at cap 1: unkeyed %v, keyed %v (%.1fx)", events, plain, keyed, float64(keyed)/float64(plain))
	if keyed > 5*plain {
		t.Errorf("keyed rule drains %.1fx slower than unkeyed at the cap", float64(keyed)/float64(plain))
	}
}
