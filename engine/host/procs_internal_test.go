package host

import (
	"context"
	"runtime"
	"testing"

	"github.com/alexarules/alexarules/engine/enginetest"
)

// The tuner raises at once from an interval over procsRaise of the low
// setting, lowers after procsCalm intervals in a row under procsLower,
// and keeps its setting in between, so a load near either edge does not
// flip it.
func TestProcsTunerSteps(t *testing.T) {
	tn := &procsTuner{low: 1, high: 4, current: 4}
	for i := range procsCalm - 1 {
		if n := tn.next(0.1); n != 4 {
			t.Fatalf("interval %d of calm: %d procs; want 4 until %d calm intervals", i+1, n, procsCalm)
		}
	}
	if n := tn.next(0.6); n != 4 { // not calm: the count starts again
		t.Fatalf("between the edges: %d procs; want 4", n)
	}
	for range procsCalm - 1 {
		tn.next(0.2)
	}
	if n := tn.next(0.2); n != 1 {
		t.Fatalf("after %d calm intervals: %d procs; want 1", procsCalm, n)
	}
	if n := tn.next(0.65); n != 1 {
		t.Fatalf("at 0.65 of one P: %d procs; want 1 (under %.2f)", n, procsRaise)
	}
	if n := tn.next(0.9); n != 4 {
		t.Fatalf("at 0.9 of one P: %d procs; want 4 at once", n)
	}
	if n := tn.next(0.55); n != 4 {
		t.Fatalf("at 0.55 with 4 procs: %d; want 4 (over %.2f)", n, procsLower)
	}
}

// The tuner lowers GOMAXPROCS while the process idles, raises it while
// the process keeps its one P busy, and gives the runtime its default
// back when stopped; it stays off when GOMAXPROCS is in the environment
// or procs.low is -1. Not parallel: GOMAXPROCS is the process's.
func TestProcsTunerFollowsTheLoad(t *testing.T) {
	high := runtime.GOMAXPROCS(0)
	if high < 2 {
		t.Skip("one P: nothing to tune")
	}
	env := func(v string) func(string) string { return func(string) string { return v } }
	for _, off := range []struct {
		c   ProcsConfig
		env string
	}{{ProcsConfig{}, "2"}, {ProcsConfig{Low: -1}, ""}, {ProcsConfig{Low: high}, ""}} {
		stop := startProcsTuner(off.c, env(off.env))
		if procsTuned.Load() {
			stop()
			t.Fatalf("a tuner runs with %+v and GOMAXPROCS=%q in the environment", off.c, off.env)
		}
		stop()
	}
	stop := startProcsTuner(ProcsConfig{}, env(""))
	if second := startProcsTuner(ProcsConfig{}, env("")); second == nil {
		t.Fatal("nil stop")
	} else {
		second() // a second tuner in the process does nothing, and stopping it neither
	}
	enginetest.WaitUntil(t, "GOMAXPROCS 1 while idle", func() bool { return runtime.GOMAXPROCS(0) == 1 })
	ctx, cancel := context.WithCancel(t.Context())
	for range 2 {
		go func() { // busy on every P it is given
			for ctx.Err() == nil {
			}
		}()
	}
	enginetest.WaitUntil(t, "GOMAXPROCS back up under load", func() bool { return runtime.GOMAXPROCS(0) == high })
	cancel()
	stop()
	if n := runtime.GOMAXPROCS(0); n != high {
		t.Fatalf("GOMAXPROCS %d after stop; want the default %d", n, high)
	}
}
