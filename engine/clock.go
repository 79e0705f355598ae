package engine

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/alexarules/alexarules/engine/heapq"
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
// order (ties in the order they were scheduled), each in the goroutine
// calling Advance or Set, so a test that advances the clock knows every due
// callback has been called when it returns.
type Virtual struct {
	mu      sync.Mutex
	now     time.Time
	pending heapq.Heap[*vtimer]
	seq     uint64
	armed   chan struct{} // made by WaitPending, closed by the next AfterFunc
}

// NewVirtual returns a virtual clock standing at t.
func NewVirtual(t time.Time) *Virtual {
	return &Virtual{now: t, pending: heapq.New(vtimerBefore, func(t *vtimer, i int) { t.index = i })}
}

func vtimerBefore(a, b *vtimer) bool {
	if a.at.Equal(b.at) {
		return a.seq < b.seq
	}
	return a.at.Before(b.at)
}

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
	v.pending.Push(t)
	if v.armed != nil {
		close(v.armed)
		v.armed = nil
	}
	return t
}

// Advance moves the clock forward by d, running every function due on the way.
func (v *Virtual) Advance(d time.Duration) { v.Set(v.Now().Add(d)) }

// Set moves the clock to t (never backwards), running every function due
// up to t in order; the clock reads each function's due time while it runs.
func (v *Virtual) Set(t time.Time) {
	for {
		v.mu.Lock()
		next, ok := v.pending.Peek()
		if !ok || next.at.After(t) {
			if t.After(v.now) {
				v.now = t
			}
			v.mu.Unlock()
			return
		}
		v.pending.Pop()
		if next.at.After(v.now) {
			v.now = next.at
		}
		v.mu.Unlock()
		next.f()
	}
}

// Pending reports how many functions wait to fire.
func (v *Virtual) Pending() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.pending.Len()
}

// WaitPending returns once at least n functions wait to fire, or with
// ctx's error when ctx ends first. A test uses it to know that a component
// running in another goroutine has armed its timers.
func (v *Virtual) WaitPending(ctx context.Context, n int) error {
	for {
		v.mu.Lock()
		pending := v.pending.Len()
		if pending >= n {
			v.mu.Unlock()
			return nil
		}
		if v.armed == nil {
			v.armed = make(chan struct{})
		}
		armed := v.armed
		v.mu.Unlock()
		select {
		case <-armed:
		case <-ctx.Done():
			return fmt.Errorf("engine: %d of %d virtual timers pending: %w", pending, n, ctx.Err())
		}
	}
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
	t.clock.pending.Remove(t.index)
	return true
}

// Next reports when the earliest pending function is due; ok is false
// when none is pending. A test steps the clock from one due time to the
// next with it, letting what each caused settle in between.
func (v *Virtual) Next() (at time.Time, ok bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	next, ok := v.pending.Peek()
	if !ok {
		return time.Time{}, false
	}
	return next.at, true
}
