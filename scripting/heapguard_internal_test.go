package scripting

import (
	"context"
	"errors"
	"math"
	"testing"
	"testing/synctest"
	"time"
)

func TestHeapGuardCollectsGarbageNotALargeLiveHeap(t *testing.T) {
	const mib = 1 << 20
	g := NewHeapGuard(Limits{HeapGrowth: 64 * mib, HeapCeiling: 384 * mib})
	for _, c := range []struct {
		name       string
		heap, live uint64
		sinceGC    time.Duration
		want       bool
		why        string
	}{
		{"small heap", 100 * mib, 10 * mib, time.Hour, false, "under half the ceiling"},
		{"large live heap", 230 * mib, 170 * mib, gcEvery, false, "10,000 rules: the garbage is less than one run's budget"},
		{"garbage of a stopped run", 300 * mib, 170 * mib, gcEvery, true, "more garbage than one run's budget"},
		{"too soon", 300 * mib, 170 * mib, gcEvery - time.Millisecond, false, "at most every gcEvery"},
		{"over the ceiling", 400 * mib, 390 * mib, gcSoon, true, "the live heap must be checked"},
		{"over the ceiling, too soon", 400 * mib, 390 * mib, gcSoon - time.Millisecond, false, "at most every gcSoon"},
	} {
		if got := g.shouldCollect(c.heap, c.live, c.sinceGC); got != c.want {
			t.Errorf("%s: collect %v, want %v (%s)", c.name, got, c.want, c.why)
		}
	}
}

// TestHeapGuardSleepsThroughShortRuns: short runs (an engine's at 1,000
// events/s) wake the sampler every calm interval, not every 2 ms; a long
// run gets it back to every interval, and its growth check, until it ends.
func TestHeapGuardSleepsThroughShortRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewHeapGuard(Limits{})
		for range 100 { // 200 ms of 1 ms runs, 1 ms apart
			r := g.Watch(t.Context(), nil)
			time.Sleep(time.Millisecond)
			r.Stop()
			time.Sleep(time.Millisecond)
		}
		if n := g.sampled.Load(); n > 3 {
			t.Errorf("%d samples during 200 ms of short runs, want at most 200 ms / calm (%v)", n, g.calm)
		}
		before := g.sampled.Load()
		r := g.Watch(t.Context(), nil)
		time.Sleep(g.longAfter + 10*g.interval)
		if n := g.sampled.Load() - before; n < 9 {
			t.Errorf("%d samples during a run's first %v, want one every %v after %v", n, g.longAfter+10*g.interval, g.interval, g.longAfter)
		}
		r.Stop()
		time.Sleep(2 * g.idle) // the sampler stops
	})
}

// TestHeapGuardReusedRunIsLongOnlyAfterItsOwnStart: a GuardedRun watched
// Again keeps its timer; a firing left from the run before (markLong called
// as it would run) does not mark the new run long, the timer set for the
// new run does.
func TestHeapGuardReusedRunIsLongOnlyAfterItsOwnStart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewHeapGuard(Limits{})
		r := g.Watch(t.Context(), nil)
		time.Sleep(g.longAfter + g.interval)
		if !r.own.run.long.Load() {
			t.Fatalf("a run in progress for %v is not long", g.longAfter+g.interval)
		}
		r.Stop()
		r.Again(t.Context(), nil)
		if r.own.run.long.Load() {
			t.Fatal("the run watched again starts long")
		}
		g.markLong(&r.own.run) // the last run's firing, late
		if r.own.run.long.Load() {
			t.Fatal("a firing for the run before marked the new run long")
		}
		time.Sleep(g.longAfter + g.interval)
		if !r.own.run.long.Load() {
			t.Fatal("the run watched again is not long after longAfter")
		}
		r.Stop()
		if r.Context().Err() == nil {
			t.Error("Stop did not end the context the guard derived")
		}
		time.Sleep(2 * g.idle) // the sampler stops
	})
}

// The guard says why before it ends the run's context: the run's
// goroutine, woken by Done, asks Cause at once, and a sampler descheduled
// between the two left it nil (found by review).
func TestHeapGuardCauseIsSetOnceTheContextEnds(t *testing.T) {
	g := NewHeapGuard(Limits{})
	ctx, cancel := context.WithCancelCause(t.Context())
	defer cancel(nil)
	var r *GuardedRun
	var seen error
	r = g.Watch(ctx, func(cause error) {
		cancel(cause)
		seen = r.Cause() // the run's goroutine may see Done now and ask why
	})
	defer r.Stop()
	r.own.run.long.Store(true) // as markLong would after longAfter
	g.mu.Lock()
	g.checkGrowth(math.MaxUint64 / 2) // the sampler's growth check, over budget
	g.mu.Unlock()
	if !errors.Is(context.Cause(ctx), ErrMemoryBudget) {
		t.Fatalf("not stopped: %v", context.Cause(ctx))
	}
	if seen == nil {
		t.Errorf("Cause() was nil once the run's context had ended with %v", context.Cause(ctx))
	}
}
