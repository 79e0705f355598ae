package engine_test

import (
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/enginetest"
)

// TestIdleUntilEveryRunCausedHasFinished: an engine is not idle while a
// run, or the run of an event it emitted, is in progress or queued.
func TestIdleUntilEveryRunCausedHasFinished(t *testing.T) {
	release := make(chan struct{})
	e := runEngine(t, engine.Config{Store: &memStore{}}, []*engine.Rule{{ID: "r", Enabled: true, Mode: engine.ModeQueued,
		Max: 10, Timeout: time.Minute, Triggers: []engine.Trigger{{Kind: engine.KindCustom}},
		NewInstance: func() (engine.Instance, error) { return gateInstance{release: release}, nil }}})

	enginetest.WaitUntil(t, "an idle engine before any event", e.Idle)
	e.Publish(engine.Event{ID: "a", Kind: engine.KindCustom, Name: "x"})
	e.Publish(engine.Event{ID: "b", Kind: engine.KindCustom, Name: "x"})
	if e.Idle() {
		t.Fatal("idle with two events just published")
	}
	release <- struct{}{}
	if e.Idle() {
		t.Fatal("idle with the second run waiting")
	}
	release <- struct{}{}
	enginetest.WaitUntil(t, "an idle engine after both runs", e.Idle)
}

func TestVirtualNextIsTheEarliestDueTime(t *testing.T) {
	start := time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)
	v := engine.NewVirtual(start)
	if _, ok := v.Next(); ok {
		t.Fatal("Next with nothing pending")
	}
	v.AfterFunc(time.Hour, func() {})
	s := v.AfterFunc(time.Minute, func() {})
	if at, _ := v.Next(); !at.Equal(start.Add(time.Minute)) {
		t.Errorf("Next = %v, want %v", at, start.Add(time.Minute))
	}
	s.Stop()
	if at, _ := v.Next(); !at.Equal(start.Add(time.Hour)) {
		t.Errorf("Next after Stop = %v, want %v", at, start.Add(time.Hour))
	}
}
