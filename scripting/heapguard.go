package scripting

import (
	"context"
	"errors"
	"fmt"
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

// What the guard reads: heap bytes in use (live and not yet swept) and the
// GC's goal.
const (
	metricHeap = "/memory/classes/heap/objects:bytes"
	metricGoal = "/gc/heap/goal:bytes"
)

// NewHeapGuard returns a guard with the heap budget of l.
func NewHeapGuard(l Limits) *HeapGuard {
	l = l.WithDefaults()
	return &HeapGuard{growth: l.HeapGrowth, ceiling: l.HeapCeiling, interval: 2 * time.Millisecond,
		idle: 500, runs: map[*guardedRun]struct{}{}}
}

// Watch returns a context derived from ctx that the guard cancels when the
// run goes over budget, and stop, which the run calls when it ends. A nil
// guard watches nothing.
func (g *HeapGuard) Watch(ctx context.Context) (context.Context, func()) {
	if g == nil {
		return ctx, func() {}
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
	return ctx, func() {
		g.mu.Lock()
		delete(g.runs, r)
		g.mu.Unlock()
		cancel(context.Canceled)
	}
}

// sample is the sampler goroutine.
func (g *HeapGuard) sample() {
	samples := make([]metrics.Sample, 2)
	t := time.NewTicker(g.interval)
	defer t.Stop()
	idle := 0
	for range t.C {
		heap, goal := readHeap(samples)
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
		for r := range g.runs {
			var why *MemoryError
			switch {
			case g.ceiling > 0 && heap > uint64(g.ceiling):
				why = &MemoryError{Heap: heap, Base: r.base, Ceiling: g.ceiling}
			case heap > r.base && heap-r.base > uint64(g.growth):
				why = &MemoryError{Heap: heap, Base: r.base, Growth: g.growth}
			default:
				continue
			}
			r.cancel(why)
			delete(g.runs, r)
		}
		g.mu.Unlock()
	}
}

func readHeap(s []metrics.Sample) (heap, goal uint64) {
	s[0].Name, s[1].Name = metricHeap, metricGoal
	metrics.Read(s)
	return s[0].Value.Uint64(), s[1].Value.Uint64()
}
