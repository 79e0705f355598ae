package scripting

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"
)

// ErrMemoryBudget is wrapped by the cause of a run the HeapGuard stopped.
var ErrMemoryBudget = errors.New("memory budget exceeded")

// MemoryError is why the HeapGuard stopped a run.
type MemoryError struct {
	Heap   uint64 // process heap when the guard stopped the run
	Base   uint64 // heap (or GC goal, whichever was higher) when the run started
	Growth int64  // the per-run budget
	// Ceiling is set when the process heap passed the ceiling rather than
	// the run's own growth passing Growth.
	Ceiling int64
}

func (e *MemoryError) Error() string {
	if e.Ceiling > 0 {
		return fmt.Sprintf("%s (live process heap %s, ceiling %s; the runs in progress were stopped)",
			ErrMemoryBudget, mib(e.Heap), mib(uint64(e.Ceiling)))
	}
	return fmt.Sprintf("%s (heap grew %s during the run, to %s; budget %s per run)",
		ErrMemoryBudget, mib(e.Heap-e.Base), mib(e.Heap), mib(uint64(e.Growth)))
}

// Unwrap returns ErrMemoryBudget.
func (e *MemoryError) Unwrap() error { return ErrMemoryBudget }

func mib(n uint64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

// HeapGuard stops runs whose memory use passes the budget. gopher-lua
// cannot meter a state's memory, so the guard reads the process heap
// (runtime/metrics: about 0.4 µs, no stop-the-world) in three places:
//
//   - in the run itself, every vmCheckEvery Lua instructions (the VM asks
//     its context's Done before each one): a run during which the heap grew
//     more than Growth above where it stood when the run started (or above
//     the GC goal then, so that garbage the next collection frees does not
//     count) is stopped. Checking in the run, not from another goroutine,
//     is what makes it prompt when busy runs starve other goroutines of CPU,
//     and it spares short runs (a canary answering in 100 instructions
//     never checks), though a long run in progress beside a memory bomb may
//     be stopped with it: the heap is the process's, not the run's;
//   - when a run starts, unless the guard read the heap within an interval
//     (2 ms): that reading is the run's base, and one over Ceiling wakes
//     the sampler at once (short runs that each keep a little pass the
//     ceiling without ever being long);
//   - in one sampler goroutine, every 2 ms while a long run (one in
//     progress for longAfter, 6 ms, or more: its own timer marks it) is in
//     progress or the heap is over Ceiling, every calm interval (100 ms)
//     while only short runs come and go. It applies the same growth budget
//     to the long runs, and when the heap passes Ceiling it collects
//     garbage and, if the live heap is still over it, stops the runs in
//     progress (the long ones, when there are short ones too). It also
//     collects when the heap passes half the ceiling with more garbage than
//     one run's growth budget on top of the live heap, so that the garbage
//     of stopped runs is freed rather than left to a GC goal a bomb raised;
//     a large live heap alone (10,000 rules) is not a reason to collect
//     every 100 ms.
//
// A sampler waking every 2 ms while any run was in progress cost an
// engine at 1,000 events/s a tenth of its CPU: the process was otherwise
// asleep between events, and each wake-up of a sleeping process costs tens
// of µs (docs/BENCHMARKS.md, "Wake-ups, and comparing two binaries at once
// (session 8)"). Short runs, which the growth check spared anyway, now wake
// it ten times a second at most.
//
// The Lua state stops at its next instruction; one Go call (a
// concatenation, a table resize) finishes first, which is why the budget is
// well below the memory the process may use. The sampler stops when no run
// has been in progress for a second. A HeapGuard is safe for concurrent
// use.
type HeapGuard struct {
	growth, ceiling int64
	interval        time.Duration // the sampler's period while a long run is in progress
	calm            time.Duration // its period otherwise
	longAfter       time.Duration // a run in progress this long is a long run
	idle            time.Duration // without runs, after which the sampler stops

	mu      sync.Mutex
	runs    map[*guardedRun]struct{}
	running bool
	last    uint64        // max(heap, goal) at the last reading
	lastAt  time.Time     // when it was read
	nudge   chan struct{} // wakes the sampler (wake)
	sampled atomic.Int64  // the sampler's readings, for tests
}

type guardedRun struct {
	// base is the heap (or the GC goal, whichever is higher) when the run
	// started: the guard's last reading when it is at most one interval
	// old, else a fresh one.
	base    atomic.Uint64
	long    atomic.Bool // in progress for longAfter or more
	started time.Time   // under the guard's lock
	timer   *time.Timer // marks it long
	cancel  context.CancelCauseFunc
	derived bool                        // cancel is the guard's own, to release at Stop
	why     atomic.Pointer[MemoryError] // set before cancel is called with it
}

// trip stops the run for why; the first reason stays. The reason is set
// before the context ends: the run's goroutine, seeing Done, asks Cause
// why, and a sampler descheduled between the two would leave it nil (the
// bomb then reported as "context canceled" and its state kept).
func (r *guardedRun) trip(why *MemoryError) {
	if r.why.CompareAndSwap(nil, why) {
		r.cancel(why)
	}
}

// GuardedRun is one run under the guard. Its parts are one allocation:
// a run of a small rule allocates little else.
type GuardedRun struct {
	ctx context.Context
	vm  *vmContext // &own.vm; nil without a guard
	own struct {
		run guardedRun
		vm  vmContext
	}
	g *HeapGuard
}

// Context is the run's context, for bound functions and their requests.
func (r *GuardedRun) Context() context.Context { return r.ctx }

// Cause is why the guard stopped the run (a *MemoryError), nil when it
// did not.
func (r *GuardedRun) Cause() error {
	if why := r.own.run.why.Load(); why != nil {
		return why
	}
	return nil
}

// VM is the context for the run's Lua state (L.SetContext), and only for
// it: the state checks the run's growth budget through it every
// vmCheckEvery instructions. It must be used by the state's goroutine
// alone.
func (r *GuardedRun) VM() context.Context {
	if r.vm == nil {
		return r.ctx
	}
	return r.vm
}

// Stop ends the run's watch; call it when the run ends.
func (r *GuardedRun) Stop() {
	if r.g == nil {
		return
	}
	r.own.run.timer.Stop()
	r.g.mu.Lock()
	delete(r.g.runs, &r.own.run)
	r.g.mu.Unlock()
	if r.own.run.derived {
		r.own.run.cancel(context.Canceled)
	}
}

// vmCheckEvery is how many Lua instructions apart a run reads the heap
// (about 0.4 µs a read).
const vmCheckEvery = 4096

// vmContext is the Lua state's context. Its Done is the parent's (the
// run's deadline and restarts reach the VM at once; through a derived
// context they would wait for a goroutine the busy runs may starve) until
// the guard trips the run.
type vmContext struct {
	context.Context // the run's: derived and guarded, or the parent the guard cancels
	parent          context.Context
	g               *HeapGuard
	run             *guardedRun
	n               int
	samples         [2]metrics.Sample
}

func (c *vmContext) Done() <-chan struct{} {
	c.n++
	if c.n%vmCheckEvery == 0 {
		heap, _ := readHeap(c.samples[:])
		if why := c.g.over(c.run, heap); why != nil {
			c.run.trip(why)
		}
	}
	if c.run.why.Load() != nil {
		return c.Context.Done()
	}
	return c.parent.Done()
}

func (c *vmContext) Err() error {
	if err := c.parent.Err(); err != nil {
		return err
	}
	return c.Context.Err()
}

// What the guard reads: heap bytes in use (live and not yet swept) and the
// GC's goal.
const (
	metricHeap = "/memory/classes/heap/objects:bytes"
	metricGoal = "/gc/heap/goal:bytes"
	metricLive = "/gc/heap/live:bytes" // left by the last collection
)

// NewHeapGuard returns a guard with the heap budget of l. It sets the Go
// runtime's memory limit to l.MemoryLimit unless one is set already
// (GOMEMLIMIT or debug.SetMemoryLimit).
func NewHeapGuard(l Limits) *HeapGuard {
	l = l.WithDefaults()
	if debug.SetMemoryLimit(-1) == math.MaxInt64 {
		debug.SetMemoryLimit(l.MemoryLimit)
	}
	return &HeapGuard{growth: l.HeapGrowth, ceiling: l.HeapCeiling, interval: 2 * time.Millisecond,
		calm: 100 * time.Millisecond, longAfter: minTicks * 2 * time.Millisecond, idle: time.Second,
		runs: map[*guardedRun]struct{}{}, nudge: make(chan struct{}, 1)}
}

// Watch starts watching a run whose context is ctx. The guard stops the
// run through cancel, which must end ctx with the cause it is given (the
// engine's run context has one: no context per run is then derived); with
// a nil cancel, the run's context is one derived from ctx. A nil guard
// watches nothing.
func (g *HeapGuard) Watch(ctx context.Context, cancel context.CancelCauseFunc) *GuardedRun {
	gr := &GuardedRun{g: g}
	gr.start(ctx, cancel)
	return gr
}

// Again watches the next run in r, as Watch does, once Stop ended the
// last: a caller whose runs come one at a time (a rule instance's) reuses
// one GuardedRun, and its timer, for all of them.
func (r *GuardedRun) Again(ctx context.Context, cancel context.CancelCauseFunc) {
	r.start(ctx, cancel)
}

func (gr *GuardedRun) start(ctx context.Context, cancel context.CancelCauseFunc) {
	g := gr.g
	if g == nil {
		gr.ctx = ctx
		return
	}
	parent := ctx
	r := &gr.own.run
	r.derived = cancel == nil
	if r.derived {
		ctx, cancel = context.WithCancelCause(ctx)
	}
	r.cancel = cancel
	g.mu.Lock()
	now := time.Now()
	if now.Sub(g.lastAt) >= g.interval {
		var samples [2]metrics.Sample
		heap, goal := readHeap(samples[:])
		g.last, g.lastAt = max(heap, goal), now
		if g.ceiling > 0 && heap > uint64(g.ceiling) {
			g.wake() // the ceiling is checked now, not at the calm period
		}
	}
	r.base.Store(g.last)
	if !g.running {
		g.running = true
		go g.sample()
	}
	// Under the lock: a firing of the timer set for the last run (markLong)
	// sees this one's start.
	r.started = now
	r.long.Store(false)
	r.why.Store(nil)
	g.runs[r] = struct{}{}
	g.mu.Unlock()
	// Stop stops the timer: a run shorter than longAfter never wakes the
	// sampler.
	if r.timer == nil {
		r.timer = time.AfterFunc(g.longAfter, func() { g.markLong(r) })
	} else {
		r.timer.Reset(g.longAfter)
	}
	gr.ctx = ctx
	gr.own.vm = vmContext{Context: ctx, parent: parent, g: g, run: r}
	gr.vm = &gr.own.vm
}

// markLong is a run's timer function: it marks r long and wakes the
// sampler, unless r is no longer in progress or started less than
// longAfter ago (the firing was set for the run before, which Stop did not
// stop in time).
func (g *HeapGuard) markLong(r *guardedRun) {
	g.mu.Lock()
	_, in := g.runs[r]
	long := in && time.Since(r.started) >= g.longAfter
	if long {
		r.long.Store(true)
	}
	g.mu.Unlock()
	if long {
		g.wake()
	}
}

// wake makes the sampler read the heap now.
func (g *HeapGuard) wake() {
	select {
	case g.nudge <- struct{}{}:
	default:
	}
}

// sample is the sampler goroutine.
func (g *HeapGuard) sample() {
	samples := make([]metrics.Sample, 2)
	live := []metrics.Sample{{Name: metricLive}}
	t := time.NewTimer(g.calm)
	defer t.Stop()
	// The first reading may collect at once, as the first sample after
	// gcEvery would.
	lastRun, lastGC := time.Now(), time.Time{}
	collecting := make(chan struct{}, 1) // one forced collection at a time
	for {
		select {
		case <-t.C:
		case <-g.nudge:
		}
		heap, goal := readHeap(samples)
		g.sampled.Add(1)
		now := time.Now()
		g.mu.Lock()
		g.last, g.lastAt = max(heap, goal), now
		if len(g.runs) > 0 {
			lastRun = now
		} else if now.Sub(lastRun) >= g.idle {
			g.running = false
			g.mu.Unlock()
			return
		}
		long := g.checkGrowth(heap)
		g.mu.Unlock()
		t.Reset(g.period(long || (g.ceiling > 0 && heap > uint64(g.ceiling))))
		if heap <= uint64(g.ceiling)/2 {
			continue // the common case: no need to read the live heap
		}
		metrics.Read(live)
		if !g.shouldCollect(heap, live[0].Value.Uint64(), now.Sub(lastGC)) {
			continue
		}
		select {
		case collecting <- struct{}{}:
			// In its own goroutine: a collection of a large heap takes long,
			// and the growth checks must go on meanwhile.
			lastGC = now
			go func() {
				defer func() { <-collecting }()
				g.collect()
			}()
		default:
		}
	}
}

// period is the sampler's next wait: interval while a long run is in
// progress or the heap is over the ceiling, calm otherwise.
func (g *HeapGuard) period(fast bool) time.Duration {
	if fast {
		return g.interval
	}
	return g.calm
}

// shouldCollect decides whether the sampler forces a collection: the heap
// (live and garbage) is over half the ceiling and either over the ceiling
// (the live heap must be checked) or holding more garbage than one run's
// growth budget above the live heap the last collection left; at most
// every gcEvery since the last forced collection (gcSoon over the ceiling).
func (g *HeapGuard) shouldCollect(heap, live uint64, sinceGC time.Duration) bool {
	switch {
	case g.ceiling <= 0 || heap <= uint64(g.ceiling)/2:
		return false
	case heap > uint64(g.ceiling):
		return sinceGC >= gcSoon
	}
	return sinceGC >= gcEvery && heap > live+uint64(g.growth)
}

// collect runs a garbage collection (it sweeps too: what is left is live)
// and stops the runs in progress when the live heap is over the ceiling.
func (g *HeapGuard) collect() {
	runtime.GC()
	var samples [2]metrics.Sample
	if heap, _ := readHeap(samples[:]); heap > uint64(g.ceiling) {
		g.stopAll(heap)
	}
}

// gcEvery is how far apart the sampler collects at least; gcSoon the same
// when the heap is over the ceiling.
const (
	gcEvery = 100 * time.Millisecond
	gcSoon  = 20 * time.Millisecond
)

// checkGrowth stops the long runs over their growth budget and reports
// whether long runs are left; g.mu is held. The runs check themselves
// too, but only every vmCheckEvery instructions, which a doubling
// concatenation passes in a few instructions each of which allocates as
// much as all before.
func (g *HeapGuard) checkGrowth(heap uint64) (long bool) {
	for r := range g.runs {
		if !r.long.Load() {
			continue
		}
		if why := g.over(r, heap); why != nil {
			r.trip(why)
			delete(g.runs, r)
			continue
		}
		long = true
	}
	return long
}

// minTicks is how many sampling intervals a run is in progress before it
// is a long run: the sampler's growth check spares short runs (a canary
// answering within a few ms), as the heap it reads is the process's.
const minTicks = 3

// stopAll stops the long runs in progress (a heap over the ceiling took
// longer than that to build), or every run when there is none such: the
// live heap is over the ceiling.
func (g *HeapGuard) stopAll(heap uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	long := false
	for r := range g.runs {
		long = long || r.long.Load()
	}
	for r := range g.runs {
		if long && !r.long.Load() {
			continue
		}
		r.trip(&MemoryError{Heap: heap, Base: r.base.Load(), Ceiling: g.ceiling})
		delete(g.runs, r)
	}
}

// over says why run r is over its growth budget at this heap size, nil
// when it is not.
func (g *HeapGuard) over(r *guardedRun, heap uint64) *MemoryError {
	base := r.base.Load()
	if heap > base && heap-base > uint64(g.growth) {
		return &MemoryError{Heap: heap, Base: base, Growth: g.growth}
	}
	return nil
}

func readHeap(s []metrics.Sample) (heap, goal uint64) {
	s[0].Name, s[1].Name = metricHeap, metricGoal
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64()
}
