package engine

import (
	"bytes"
	"log/slog"
	"slices"
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

// TestTimersCountPendingReverts: the count a run's reverts check reads
// follows arming, re-arming, cancelling and firing of revert rows, and
// ignores other timers.
func TestTimersCountPendingReverts(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	v := NewVirtual(t0)
	e := New(Config{Clock: v, Log: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))})
	ts := e.timers
	revert := func(id string, due time.Duration) TimerRecord {
		return TimerRecord{ID: id, Rule: "gone", Handler: RevertHandler, Due: t0.Add(due)}
	}
	check := func(step string, want int) {
		t.Helper()
		n := 0
		for _, ids := range ts.reverts {
			n += len(ids)
		}
		if n != want || ts.anyRevert() != (want > 0) {
			t.Fatalf("%s: %d reverts indexed (any %t), want %d", step, n, ts.anyRevert(), want)
		}
	}
	check("none", 0)
	ts.arm(TimerRecord{ID: "r/t", Rule: "gone", Handler: "h", Due: t0.Add(time.Hour)})
	check("a handler timer", 0)
	ts.arm(revert("r/revert:a", time.Hour))
	ts.arm(revert("r/revert:b", 2*time.Hour))
	check("two reverts", 2)
	ts.arm(revert("r/revert:a", 3*time.Hour))
	check("one re-armed", 2)
	ts.applied([]string{"r/revert:b", "r/t", "unknown"}, nil)
	check("one cancelled", 1)
	v.Advance(3 * time.Hour)
	check("the last fired", 0)
	ts.arm(revert("r/revert:c", time.Hour))
	ts.stop()
	check("stopped", 0)
}

// A device change cancels the pending reverts of its target, of any rule,
// and no other timer: not a handler's timer whose id a rule chose to look
// like a revert's.
func TestADeviceChangeCancelsOnlyReverts(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	v := NewVirtual(t0)
	e := New(Config{Clock: v, Log: slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))})
	ch := Change{DeviceID: "d1", Device: "Lamp", Attr: "brightness", Before: 10.0}
	local := revertPrefix + ch.Target()
	e.timers.arm(TimerRecord{ID: "a/" + local, Rule: "a", Handler: RevertHandler, Due: t0.Add(time.Hour)})
	e.timers.arm(TimerRecord{ID: "b/" + local, Rule: "b", Handler: "h", Due: t0.Add(time.Hour)})
	e.timers.arm(TimerRecord{ID: "c/revert:power:d1", Rule: "c", Handler: RevertHandler, Due: t0.Add(time.Hour)})
	var c Commit
	newRunner(e, &Rule{ID: "m"}).reverts(&c, []Change{ch}, t0)
	if !slices.Equal(c.DeleteTimers, []string{"a/" + local}) {
		t.Fatalf("a change of %s deletes %v, want only rule a's revert of it", ch.Target(), c.DeleteTimers)
	}
}
