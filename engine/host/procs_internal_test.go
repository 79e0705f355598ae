package host

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine/enginetest"
)

// The tuner lowers after procsCalm intervals in a row under procsLower,
// raises at once from an interval over procsRaise of the low setting or
// one in which a goroutine waited to run, stays up procsHold calm
// intervals after such a wait, and keeps its setting in between, so a
// load near either edge does not flip it.
func TestProcsTunerSteps(t *testing.T) {
	tn := &procsTuner{low: 1, calmNeeded: procsCalm}
	calm := func(n int) {
		t.Helper()
		for i := range n {
			if step := tn.next(0.1, 0); step != procsStay {
				t.Fatalf("calm interval %d of %d: step %d; want to stay", i+1, n, step)
			}
		}
	}
	calm(procsCalm - 1)
	if step := tn.next(0.6, 0); step != procsStay { // not calm: the count starts again
		t.Fatalf("between the edges: step %d; want to stay", step)
	}
	calm(procsCalm - 1)
	if step := tn.next(0.2, 0); step != procsLowerNow {
		t.Fatalf("after %d calm intervals: step %d; want to lower", procsCalm, step)
	}
	if step := tn.next(0.65, 0); step != procsStay {
		t.Fatalf("at 0.65 of one P: step %d; want to stay (under %.2f)", step, procsRaise)
	}
	if step := tn.next(0.9, 0); step != procsRaiseNow {
		t.Fatalf("at 0.9 of one P: step %d; want to raise", step)
	}
	if step := tn.next(0.55, 0); step != procsStay {
		t.Fatalf("at 0.55 with every P: step %d; want to stay (over %.2f)", step, procsLower)
	}
	calm(procsCalm - 1)
	if step := tn.next(0.1, 0); step != procsLowerNow {
		t.Fatalf("after %d calm intervals: step %d; want to lower", procsCalm, step)
	}
	if step := tn.next(0.1, 1); step != procsRaiseNow {
		t.Fatalf("a goroutine waited: step %d; want to raise", step)
	}
	calm(procsHold - 1)
	if step := tn.next(0.1, 0); step != procsLowerNow {
		t.Fatalf("after %d calm intervals since the wait: step %d; want to lower", procsHold, step)
	}
}

// The tuner lowers GOMAXPROCS while the process idles, raises it while
// the process keeps its one P busy, and gives the runtime its default
// back when stopped; it stays off when GOMAXPROCS is in the environment,
// procs.low is -1 or not under the Ps there are. Not parallel: GOMAXPROCS
// is the process's.
func TestProcsTunerFollowsTheLoad(t *testing.T) {
	orig := runtime.GOMAXPROCS(0)
	t.Cleanup(func() { runtime.GOMAXPROCS(orig) }) // `go test -cpu N` or GOMAXPROCS=N set it
	runtime.SetDefaultGOMAXPROCS()
	high := runtime.GOMAXPROCS(0)
	if high < 2 {
		t.Skip("one P: nothing to tune")
	}
	env := func(v string) func(string) string { return func(string) string { return v } }
	for _, off := range []struct {
		c   ProcsConfig
		env string
	}{{ProcsConfig{}, "2"}, {ProcsConfig{Low: -1}, ""}, {ProcsConfig{Low: high}, ""}} {
		_, stop := startProcsTuner(off.c, env(off.env))
		if procsTuned.Load() {
			stop()
			t.Fatalf("a tuner runs with %+v and GOMAXPROCS=%q in the environment", off.c, off.env)
		}
		stop()
	}
	_, stop := startProcsTuner(ProcsConfig{}, env(""))
	_, stop2 := startProcsTuner(ProcsConfig{}, env(""))
	stop2() // a second tuner in the process tunes nothing, and stopping it neither
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

// A burst of CPU too short to show in an interval's average still makes
// goroutines wait to run on one P, and the runtime's count of such waits
// sees it.
func TestProcsWaitCounterSeesABurst(t *testing.T) {
	orig := runtime.GOMAXPROCS(1)
	t.Cleanup(func() { runtime.GOMAXPROCS(orig) })
	w := newWaitCounter()
	enginetest.WaitUntil(t, "a wait of 1 ms or more counted", func() bool {
		done := make(chan struct{})
		go func() { // runnable behind the burst below
			close(done)
		}()
		burst := time.Now()
		for time.Since(burst) < 5*time.Millisecond {
		}
		<-done
		return w.since() > 0
	})
}

// The watch tells the engine the CPUs are the bottleneck while more
// goroutines are ready to run than Ps run them, and not while many
// goroutines wait on something else (as runs waiting on Amazon do).
func TestCPUWatchSeesWorkWaitingForPs(t *testing.T) {
	release := make(chan struct{})
	for range 500 {
		go func() { <-release }()
	}
	settle := newCPUWatch() // their start makes them runnable for a moment
	enginetest.WaitUntil(t, "the goroutines parked", func() bool { settle.sample(); return settle.avg < 1 })
	w := newCPUWatch()
	for range 40 {
		if w.sample(); w.bound.Load() {
			t.Fatal("bound while 500 goroutines wait on a channel")
		}
	}
	close(release)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	for range 8 * runtime.GOMAXPROCS(0) {
		go func() { // ready to run whenever preempted
			for ctx.Err() == nil {
			}
		}()
	}
	enginetest.WaitUntil(t, "bound with 8 spinning goroutines per P", func() bool { w.sample(); return w.bound.Load() })
	cancel()
	enginetest.WaitUntil(t, "free once they stopped", func() bool { w.sample(); return !w.bound.Load() })
}

// procs.parallel_per_cpu sets the engine's cap per P; -1 turns it off.
// Not parallel: the tuner reads GOMAXPROCS.
func TestProcsTunerCapsParallelRulesPerP(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	for _, tc := range []struct{ per, want int }{{0, DefaultParallelPerCPU * procs}, {8, 8 * procs}, {-1, 0}} {
		limit, stop := startProcsTuner(ProcsConfig{Low: -1, ParallelPerCPU: tc.per}, nil)
		if limit.Runs != tc.want || (limit.Bound != nil) != (tc.want > 0) {
			t.Errorf("parallel_per_cpu %d: cap %d (bound set: %v), want %d", tc.per, limit.Runs, limit.Bound != nil, tc.want)
		}
		if tc.want > 0 { // the tuner's goroutine samples the watch, tuning or not
			ctx, cancel := context.WithCancel(t.Context())
			for range 8 * procs {
				go func() {
					for ctx.Err() == nil {
					}
				}()
			}
			enginetest.WaitUntil(t, "bound under load", limit.Bound)
			cancel()
			enginetest.WaitUntil(t, "free again", func() bool { return !limit.Bound() })
		}
		stop()
		if n := runtime.GOMAXPROCS(0); n != procs {
			t.Errorf("parallel_per_cpu %d: GOMAXPROCS %d after stop, want %d (low -1 leaves it alone)", tc.per, n, procs)
		}
	}
}
