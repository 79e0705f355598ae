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
		return fmt.Sprintf("%s (process heap %s, ceiling %s; every run in progress was stopped)",
			ErrMemoryBudget, mib(e.Heap), mib(uint64(e.Ceiling)))
	}
	return fmt.Sprintf("%s (heap grew %s during the run, budget %s per run)",
		ErrMemoryBudget, mib(e.Heap-e.Base), mib(uint64(e.Growth)))
}

// Unwrap returns ErrMemoryBudget.
func (e *MemoryError) Unwrap() error { return ErrMemoryBudget }

func mib(n uint64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

// HeapGuard stops runs whose memory use passes the budget. gopher-lua
// cannot meter a state's memory, so while runs are in progress one
// goroutine samples the process heap (runtime/metrics: no stop-the-world)
// and cancels, with a *MemoryError cause, every run during which the heap
// grew more than Growth above where it was (or above the GC goal, so that
// garbage that the next collection frees does not count), and every run in
// progress once the heap passes Ceiling. A Lua state checks its context
// before every instruction, so the run stops at once; one Go call (a
// concatenation, a table resize) finishes first, which is why the budget
// is well below the memory the process may use. The sampler stops when no
// run has been in progress for a while. A HeapGuard is safe for concurrent
// use.
type HeapGuard struct {
	growth, ceiling int64
	interval        time.Duration
	idle            int // samples without a run before the sampler stops

	mu      sync.Mutex
	runs    map[*guardedRun]struct{}
	running bool
	last    uint64 // max(heap, goal) of the sampler's last reading, while running
}

type guardedRun struct {
	base   uint64
	cancel context.CancelCauseFunc
}

// GuardedRun is one run under the guard.
type GuardedRun struct {
	ctx  context.Context
	vm   *vmContext
	stop func()
}

// Context is the run's context, for bound functions and their requests.
func (r *GuardedRun) Context() context.Context { return r.ctx }

// VM is the context for the run's Lua state (L.SetContext), and only for
// it: besides the sampler, the state checks the budget itself every
// vmCheckEvery instructions (the VM asks its context's Done before every
// instruction), which a sampler starved of CPU by busy runs cannot. It
// must be used by the state's goroutine alone.
func (r *GuardedRun) VM() context.Context {
	if r.vm == nil {
		return r.ctx
	}
	return r.vm
}

// Stop ends the run's watch; call it when the run ends.
func (r *GuardedRun) Stop() { r.stop() }

// vmCheckEvery is how many Lua instructions apart a run reads the heap
// (about 0.4 µs a read).
const vmCheckEvery = 4096

type vmContext struct {
	context.Context
	g       *HeapGuard
	run     *guardedRun
	n       int
	samples [2]metrics.Sample
}

func (c *vmContext) Done() <-chan struct{} {
	c.n++
	if c.n%vmCheckEvery == 0 {
		heap, _ := readHeap(c.samples[:])
		if why := c.g.over(c.run, heap, false); why != nil {
			c.run.cancel(why)
		}
	}
	return c.Context.Done()
}

// What the guard reads: heap bytes in use (live and not yet swept) and the
// GC's goal.
const (
	metricHeap = "/memory/classes/heap/objects:bytes"
	metricGoal = "/gc/heap/goal:bytes"
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
		idle: 500, runs: map[*guardedRun]struct{}{}}
}

// Watch starts watching a run whose context is ctx. A nil guard watches
// nothing.
func (g *HeapGuard) Watch(ctx context.Context) *GuardedRun {
	if g == nil {
		return &GuardedRun{ctx: ctx, stop: func() {}}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	r := &guardedRun{cancel: cancel}
	g.mu.Lock()
	if g.running {
		// At most one interval old: cheaper than reading for every run.
		r.base = g.last
	} else {
		var s [2]metrics.Sample
		heap, goal := readHeap(s[:])
		r.base = max(heap, goal)
		g.running = true
		go g.sample()
	}
	g.runs[r] = struct{}{}
	g.mu.Unlock()
	return &GuardedRun{ctx: ctx, vm: &vmContext{Context: ctx, g: g, run: r}, stop: func() {
		g.mu.Lock()
		delete(g.runs, r)
		g.mu.Unlock()
		cancel(context.Canceled)
	}}
}

// sample is the sampler goroutine.
func (g *HeapGuard) sample() {
	samples := make([]metrics.Sample, 2)
	t := time.NewTicker(g.interval)
	defer t.Stop()
	idle, sinceGC := 0, gcEvery
	for range t.C {
		heap, goal := readHeap(samples)
		sinceGC++
		if g.ceiling > 0 && heap > uint64(g.ceiling)/2 && sinceGC >= gcEvery {
			// What counts against the ceiling must be live data, not the
			// garbage of stopped runs: a GC that ran while a bomb was live
			// set the next GC at twice its size.
			runtime.GC()
			sinceGC = 0
			heap, goal = readHeap(samples)
		}
		g.mu.Lock()
		g.last = max(heap, goal)
		if len(g.runs) == 0 {
			idle++
			if idle >= g.idle {
				g.running = false
				g.mu.Unlock()
				return
			}
		} else {
			idle = 0
		}
		g.check(heap)
		g.mu.Unlock()
	}
}

// gcEvery is how many samples apart forced collections are at least.
const gcEvery = 50

// check cancels the runs over budget at this heap size; g.mu is held.
func (g *HeapGuard) check(heap uint64) {
	for r := range g.runs {
		if why := g.over(r, heap, true); why != nil {
			r.cancel(why)
			delete(g.runs, r)
		}
	}
}

// over says why run r is over budget at this heap size, nil when it is not.
// The ceiling counts only after a collection (ceiling set): a run checking
// itself sees garbage too.
func (g *HeapGuard) over(r *guardedRun, heap uint64, ceiling bool) *MemoryError {
	switch {
	case ceiling && g.ceiling > 0 && heap > uint64(g.ceiling):
		return &MemoryError{Heap: heap, Base: r.base, Ceiling: g.ceiling}
	case heap > r.base && heap-r.base > uint64(g.growth):
		return &MemoryError{Heap: heap, Base: r.base, Growth: g.growth}
	}
	return nil
}

func readHeap(s []metrics.Sample) (heap, goal uint64) {
	s[0].Name, s[1].Name = metricHeap, metricGoal
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64()
}
