package engine

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestTimerRearmedAfterHandOverFiresFromTheQueue: a row re-armed after
// the queue handed its old time to due (a run rescheduled it meanwhile)
// fires at its new time, not from the stale hand-over; a cancelled one
// does not fire at all.
func TestTimerRearmedAfterHandOverFiresFromTheQueue(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	v := NewVirtual(t0)
	var log bytes.Buffer
	e := New(Config{Clock: v, Log: slog.New(slog.NewTextHandler(&log, nil))})
	ts := e.timers
	fired := func() int { return strings.Count(log.String(), "timer of an unknown rule") }

	ts.arm(TimerRecord{ID: "a", Rule: "gone", Handler: "h", Due: t0.Add(time.Hour)})
	ts.due([]string{"a"}) // stale: a is queued again
	if fired() != 0 {
		t.Fatalf("a re-armed timer fired from a stale hand-over:\n%s", log.String())
	}
	v.Advance(time.Hour)
	if fired() != 1 {
		t.Fatalf("the re-armed timer fired %d times at its time, want 1:\n%s", fired(), log.String())
	}

	ts.arm(TimerRecord{ID: "b", Rule: "gone", Handler: "h", Due: t0.Add(2 * time.Hour)})
	ts.applied([]string{"b"}, nil)
	ts.due([]string{"b"}) // handed over just before the run cancelled it
	v.Advance(time.Hour)
	if fired() != 1 {
		t.Fatalf("a cancelled timer fired:\n%s", log.String())
	}
}
