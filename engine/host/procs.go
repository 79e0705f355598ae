package host

import (
	"cmp"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"time"

	"github.com/alexarules/alexarules/engine"
)

// ProcsConfig is the "procs" block: how many Ps (GOMAXPROCS, the threads
// running Go code at once) the engine uses while it is nearly idle. With
// every core's P available, each handoff between the engine's goroutines
// (HTTP in, store, rule runner, HTTP out) wakes an idle P's thread, which
// spins looking for work and sleeps again: at household rates that was a
// fifth of the engine's CPU per event (docs/BENCHMARKS.md "Fewer Ps at low
// load"). The tuner runs on Low Ps, and gives the runtime its default back
// (every P, following the container's CPU limit) from the first interval
// in which the process kept them over 70% busy or a goroutine waited 4 ms
// or more to run (a rule's burst of CPU too short to show in the
// average). It returns to Low Ps after a second in a row under half a P
// (three seconds after such a wait).
type ProcsConfig struct {
	// Low is GOMAXPROCS at low load (0: DefaultProcsLow); -1 leaves
	// GOMAXPROCS alone. A GOMAXPROCS set in the environment always wins.
	Low int `json:"low"`
	// ParallelPerCPU caps a parallel rule's runs at once, per P, while the
	// process has more goroutines ready to run than Ps to run them (0:
	// DefaultParallelPerCPU; -1: no cap).
	ParallelPerCPU int `json:"parallel_per_cpu"`
}

// DefaultParallelPerCPU is procs.parallel_per_cpu's default: 64 runs at
// once on two Ps, where the end-to-end benchmark's rule at max 256 spent
// less CPU per event than with 256 runs at once in 14 of 16 alternating
// pairs (1–27% less), for as many events (docs/BENCHMARKS.md "Runs at
// once when the CPUs are the bottleneck").
const DefaultParallelPerCPU = 32

// DefaultProcsLow is procs.low's default.
const DefaultProcsLow = 1

const (
	// procsSample is how often the tuner reads the process's CPU time.
	procsSample = 50 * time.Millisecond
	// procsRaise: an interval in which the process used more than this
	// share of the low setting's Ps raises GOMAXPROCS at once.
	procsRaise = 0.7
	// procsWait: an interval in which a goroutine waited this long to run
	// raises it at once too, and then it stays up procsHold intervals of
	// calm at least (a rule that bursts every so often then costs one
	// burst's wait per three seconds, not every burst's). At 1,000-2,000
	// events/s of the benchmark's rule on one P, waits of 1 ms happened
	// every few seconds, of 4 ms rarely.
	procsWait = 4 * time.Millisecond
	procsHold = 60
	// procsLower: procsCalm intervals in a row under this share of the
	// low setting's Ps (one second) lower it again; between the two the
	// setting stays, so a rate near either edge does not flip it.
	procsLower = 0.5
	procsCalm  = 20
)

// procsTuned is set while a tuner runs: GOMAXPROCS is the process's, so
// a second engine in the process (in-process tests of `run`) leaves it
// to the first. It is the package's one mutable variable, for that one
// process-wide setting.
var procsTuned atomic.Bool

// startProcsTuner starts tuning GOMAXPROCS for c, and watching whether
// the CPUs are the bottleneck for the engine's parallel rules (the
// returned CPULimit); stop ends both and gives the runtime its default
// back. It tunes nothing when c turns it off, the environment sets
// GOMAXPROCS, the runtime has no more Ps than the low setting, the
// process's CPU time cannot be read, or another tuner runs; it watches
// nothing when c.ParallelPerCPU is -1.
func startProcsTuner(c ProcsConfig, getenv func(string) string) (limit engine.CPULimit, stop func()) {
	low := c.Low
	if low == 0 {
		low = DefaultProcsLow
	}
	procs := runtime.GOMAXPROCS(0) // the default, or the environment's
	_, cpuOK := processCPU()
	tune := low >= 0 && low < procs && (getenv == nil || getenv("GOMAXPROCS") == "") && cpuOK &&
		procsTuned.CompareAndSwap(false, true)
	t := &procsTuner{low: low, calmNeeded: procsCalm, tune: tune}
	if per := c.ParallelPerCPU; per >= 0 {
		t.watch = newCPUWatch()
		limit = engine.CPULimit{Runs: cmp.Or(per, DefaultParallelPerCPU) * procs, Bound: t.watch.bound.Load}
	}
	if !tune && t.watch == nil {
		return limit, func() {}
	}
	quit, done := make(chan struct{}), make(chan struct{})
	go t.run(quit, done)
	return limit, func() {
		close(quit)
		<-done
		if tune {
			runtime.SetDefaultGOMAXPROCS()
			procsTuned.Store(false)
		}
	}
}

// procsTuner decides when the engine runs on low Ps (when tune), and
// tells the engine when the CPUs are the bottleneck (when watch is set).
type procsTuner struct {
	low        int
	tune       bool
	lowered    bool
	calm       int // intervals in a row under procsLower
	calmNeeded int // procsCalm, or procsHold after a goroutine waited
	watch      *cpuWatch
}

func (t *procsTuner) run(quit <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(procsSample)
	defer tick.Stop()
	waits := newWaitCounter()
	cpu, _ := processCPU()
	last := time.Now()
	for {
		select {
		case <-quit:
			return
		case <-tick.C:
			if t.watch != nil {
				t.watch.sample()
			}
			if !t.tune {
				continue
			}
			used, _ := processCPU()
			now := time.Now()
			busy := float64(used-cpu) / float64(now.Sub(last))
			cpu, last = used, now
			switch t.next(busy, waits.since()) {
			case procsLowerNow:
				runtime.GOMAXPROCS(t.low)
			case procsRaiseNow:
				runtime.SetDefaultGOMAXPROCS()
			}
		}
	}
}

// procsStep is what the tuner does after an interval.
type procsStep uint8

const (
	procsStay procsStep = iota
	procsLowerNow
	procsRaiseNow
)

// next is the step after an interval in which the process used busy
// CPUs' worth of time and waited goroutines waited procsWait or more.
func (t *procsTuner) next(busy float64, waited uint64) procsStep {
	switch {
	case t.lowered && (busy > procsRaise*float64(t.low) || waited > 0):
		t.lowered, t.calm, t.calmNeeded = false, 0, procsCalm
		if waited > 0 {
			t.calmNeeded = procsHold
		}
		return procsRaiseNow
	case !t.lowered && busy < procsLower*float64(t.low):
		if t.calm++; t.calm >= t.calmNeeded {
			t.lowered, t.calm = true, 0
			return procsLowerNow
		}
	default:
		t.calm = 0
	}
	return procsStay
}

// waitCounter counts the goroutines the runtime saw wait procsWait or
// more to run (its /sched/latencies histogram, which it samples).
type waitCounter struct {
	s    []metrics.Sample
	last uint64
}

func newWaitCounter() *waitCounter {
	w := &waitCounter{s: []metrics.Sample{{Name: "/sched/latencies:seconds"}}}
	w.since()
	return w
}

// since is how many waits of procsWait or more were counted since the
// last call.
func (w *waitCounter) since() uint64 {
	metrics.Read(w.s)
	if w.s[0].Value.Kind() != metrics.KindFloat64Histogram {
		return 0
	}
	h := w.s[0].Value.Float64Histogram()
	var n uint64
	for i, c := range h.Counts {
		if h.Buckets[i] >= procsWait.Seconds() {
			n += c
		}
	}
	d := n - w.last
	w.last = n
	return d
}

// cpuWatch tells whether the process has more goroutines ready to run
// than Ps to run them, for engine.CPULimit: the runtime's count of
// runnable goroutines per P, smoothed over the tuner's intervals, at
// cpuBoundAbove or more sets it, under cpuBoundBelow clears it. The count is the
// process's own: goroutines waiting on Amazon are not runnable, so a rule
// whose runs wait on the network never sets it, however many there are.
type cpuWatch struct {
	bound atomic.Bool
	s     []metrics.Sample
	avg   float64 // runnable goroutines per P, smoothed; the tuner's goroutine only
}

const (
	// cpuBoundAbove, cpuBoundBelow: runnable goroutines per P. Under the
	// end-to-end benchmark's closed loop on two Ps the runtime counted 10
	// to 20 per P (sampled every 5 ms), at 4,000 events/s 1 to 3, at
	// 1,000/s under 1.
	cpuBoundAbove = 4
	cpuBoundBelow = 2
	// cpuSmooth weighs each interval's count in the average: about the
	// last four intervals (200 ms) count.
	cpuSmooth = 0.25
)

func newCPUWatch() *cpuWatch {
	return &cpuWatch{s: []metrics.Sample{{Name: "/sched/goroutines/runnable:goroutines"}, {Name: "/sched/gomaxprocs:threads"}}}
}

// sample reads the runtime's counts once and updates bound.
func (w *cpuWatch) sample() {
	metrics.Read(w.s)
	if w.s[0].Value.Kind() != metrics.KindUint64 || w.s[1].Value.Kind() != metrics.KindUint64 {
		return
	}
	per := float64(w.s[0].Value.Uint64()) / float64(max(w.s[1].Value.Uint64(), 1))
	w.avg += (per - w.avg) * cpuSmooth
	switch {
	case w.avg >= cpuBoundAbove:
		w.bound.Store(true)
	case w.avg < cpuBoundBelow:
		w.bound.Store(false)
	}
}
