package engine

import (
	"container/heap"
	"sync"
	"time"
)

// Clock is the engine's one source of time. Schedules, timers, holds, alarm
// tracking, traces and ctx.now all read it, so tests run days in
// milliseconds on a Virtual clock.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has passed.
	AfterFunc(d time.Duration, f func()) Stopper
}

// Stopper stops a pending AfterFunc; it reports whether it stopped it
// before it fired.
type Stopper interface{ Stop() bool }

// RealClock is the wall clock.
type RealClock struct{}

// Now returns time.Now.
func (RealClock) Now() time.Time { return time.Now() }

// AfterFunc is time.AfterFunc.
func (RealClock) AfterFunc(d time.Duration, f func()) Stopper { return time.AfterFunc(d, f) }

// Virtual is a clock that moves only when told to. Due functions run in due
// order, each in the goroutine calling Advance or Set, so a test that
// advances the clock knows every due callback has been called when it
// returns.
type Virtual struct {
	mu      sync.Mutex
	now     time.Time
	pending timerHeap
	seq     uint64
}

// NewVirtual returns a virtual clock standing at t.
func NewVirtual(t time.Time) *Virtual { return &Virtual{now: t} }

// Now returns the virtual time.
func (v *Virtual) Now() time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.now
}

// AfterFunc schedules f at Now()+d.
func (v *Virtual) AfterFunc(d time.Duration, f func()) Stopper {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.seq++
	t := &vtimer{clock: v, at: v.now.Add(d), seq: v.seq, f: f}
	heap.Push(&v.pending, t)
	return t
}

// Advance moves the clock forward by d, running every function due on the way.
func (v *Virtual) Advance(d time.Duration) { v.Set(v.Now().Add(d)) }

// Set moves the clock to t (never backwards), running every function due
// up to t in order; the clock reads each function's due time while it runs.
func (v *Virtual) Set(t time.Time) {
	for {
		v.mu.Lock()
		if len(v.pending) == 0 || v.pending[0].at.After(t) {
			if t.After(v.now) {
				v.now = t
			}
			v.mu.Unlock()
			return
		}
		next := heap.Pop(&v.pending).(*vtimer)
		if next.at.After(v.now) {
			v.now = next.at
		}
		next.index = -1
		v.mu.Unlock()
		next.f()
	}
}

// Pending reports how many functions wait to fire.
func (v *Virtual) Pending() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return len(v.pending)
}

type vtimer struct {
	clock *Virtual
	at    time.Time
	seq   uint64
	f     func()
	index int
}

func (t *vtimer) Stop() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	if t.index < 0 {
		return false
	}
	heap.Remove(&t.clock.pending, t.index)
	t.index = -1
	return true
}

type timerHeap []*vtimer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].seq < h[j].seq
	}
	return h[i].at.Before(h[j].at)
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *timerHeap) Push(x any) {
	t := x.(*vtimer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return t
}
