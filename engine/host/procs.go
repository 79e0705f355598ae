package host

import (
	"runtime"
	"sync/atomic"
	"time"
)

// ProcsConfig is the "procs" block: how many Ps (GOMAXPROCS, the threads
// running Go code at once) the engine uses while it is nearly idle. With
// every core's P available, each handoff between the engine's goroutines
// (HTTP in, store, rule runner, HTTP out) wakes an idle P's thread, which
// spins looking for work and sleeps again: at household rates that was a
// fifth of the engine's CPU per event (docs/BENCHMARKS.md "Fewer Ps at low
// load"). The tuner runs on Low Ps while the process keeps them less than
// 70% busy, and on every P the runtime gave it (GOMAXPROCS at
// start) from the first interval that is busier.
type ProcsConfig struct {
	// Low is GOMAXPROCS at low load (0: DefaultProcsLow); -1 leaves
	// GOMAXPROCS alone. A GOMAXPROCS set in the environment always wins.
	Low int `json:"low"`
}

// DefaultProcsLow is procs.low's default.
const DefaultProcsLow = 1

const (
	// procsSample is how often the tuner reads the process's CPU time.
	procsSample = 50 * time.Millisecond
	// procsRaise: an interval in which the process used more than this
	// share of the low setting's Ps raises GOMAXPROCS at once.
	procsRaise = 0.7
	// procsLower: procsCalm intervals in a row under this share of the
	// low setting's Ps (one second) lower it again; between the two the
	// setting stays, so a rate near either edge does not flip it.
	procsLower = 0.5
	procsCalm  = 20
)

// procsTuned is set while a tuner runs: GOMAXPROCS is the process's, so
// a second engine in the process (in-process tests of `run`) leaves it
// to the first.
var procsTuned atomic.Bool

// startProcsTuner starts tuning GOMAXPROCS for c and returns the function
// that stops the tuner and gives the runtime back its default. It does
// nothing when c turns it off, the environment sets GOMAXPROCS, the
// runtime has no more Ps than the low setting, the process's CPU time
// cannot be read, or another tuner runs.
func startProcsTuner(c ProcsConfig, getenv func(string) string) (stop func()) {
	low := c.Low
	if low == 0 {
		low = DefaultProcsLow
	}
	high := runtime.GOMAXPROCS(0)
	if _, ok := processCPU(); low < 0 || low >= high || (getenv != nil && getenv("GOMAXPROCS") != "") || !ok ||
		!procsTuned.CompareAndSwap(false, true) {
		return func() {}
	}
	t := &procsTuner{low: low, high: high, current: high}
	quit, done := make(chan struct{}), make(chan struct{})
	go t.run(quit, done)
	return func() {
		close(quit)
		<-done
		runtime.SetDefaultGOMAXPROCS()
		procsTuned.Store(false)
	}
}

// procsTuner decides GOMAXPROCS from how busy the process was.
type procsTuner struct {
	low, high int
	current   int
	calm      int // intervals in a row under procsLower
}

func (t *procsTuner) run(quit <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(procsSample)
	defer tick.Stop()
	cpu, _ := processCPU()
	last := time.Now()
	for {
		select {
		case <-quit:
			return
		case now := <-tick.C:
			used, _ := processCPU()
			busy := float64(used-cpu) / float64(now.Sub(last))
			cpu, last = used, now
			if n := t.next(busy); n != runtime.GOMAXPROCS(0) {
				runtime.GOMAXPROCS(n)
			}
		}
	}
}

// next is the GOMAXPROCS for the next interval after one in which the
// process used busy CPUs' worth of time.
func (t *procsTuner) next(busy float64) int {
	switch {
	case t.current != t.high && busy > procsRaise*float64(t.low):
		t.current, t.calm = t.high, 0
	case t.current != t.low && busy < procsLower*float64(t.low):
		if t.calm++; t.calm >= procsCalm {
			t.current, t.calm = t.low, 0
		}
	default:
		t.calm = 0
	}
	return t.current
}
