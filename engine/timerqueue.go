package engine

import (
	"iter"
	"sync"
	"time"

	"github.com/alexarules/alexarules/engine/heapq"
)

// TimerQueue holds keyed deadlines on a Clock and keeps one clock timer,
// armed for the earliest of them. It is the engine's one timer queue:
// schedules, durable timers, holds and notification rings each keep their
// pending times in one, instead of a clock timer per entry or a scan for
// the earliest.
//
// When the clock timer fires, every key due by then leaves the queue and
// fire is called once with them, earliest first (keys due at the same time
// in the order they were scheduled). fire runs without the queue's lock, so
// it may call Schedule and Cancel; calls of fire never overlap. On a
// Virtual clock fire runs inside Advance or Set, like any clock function.
// Its methods are safe for concurrent use.
type TimerQueue[K comparable] struct {
	clock Clock
	fire  func(due []K)

	mu      sync.Mutex
	idle    sync.Cond // signalled when a fire call returns
	entries map[K]*queued[K]
	heap    heapq.Heap[*queued[K]]
	seq     uint64
	timer   Stopper   // the clock timer; nil when none is armed
	timerAt time.Time // when timer is due
	gen     uint64    // counts arms, to tell the current timer from a stale one
	firing  bool
	stopped bool
}

type queued[K comparable] struct {
	key   K
	at    time.Time
	seq   uint64
	index int
}

func queuedBefore[K comparable](a, b *queued[K]) bool {
	if a.at.Equal(b.at) {
		return a.seq < b.seq
	}
	return a.at.Before(b.at)
}

// NewTimerQueue returns an empty queue that calls fire with the keys that
// fall due.
func NewTimerQueue[K comparable](clock Clock, fire func(due []K)) *TimerQueue[K] {
	q := &TimerQueue[K]{clock: clock, fire: fire, entries: map[K]*queued[K]{},
		heap: heapq.New(queuedBefore[K], func(e *queued[K], i int) { e.index = i })}
	q.idle.L = &q.mu
	return q
}

// Schedule makes key due at at: it adds the key, or moves it if it is
// already pending (a moved key ranks after keys scheduled before for the
// same time). A time in the past falls due at once. After Stop, Schedule
// does nothing.
func (q *TimerQueue[K]) Schedule(key K, at time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.stopped && q.scheduleLocked(key, at) {
		q.armLocked()
	}
}

// ScheduleAll is Schedule for each key and time of all, in its order, with
// the clock timer armed once at the end, so a clock timer firing meanwhile
// finds all of them queued or none. all must not call the queue.
func (q *TimerQueue[K]) ScheduleAll(all iter.Seq2[K, time.Time]) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stopped {
		return
	}
	for key, at := range all {
		q.scheduleLocked(key, at)
	}
	q.armLocked()
}

// scheduleLocked adds or moves key and reports whether it changed. q.mu
// held.
func (q *TimerQueue[K]) scheduleLocked(key K, at time.Time) bool {
	e := q.entries[key]
	switch {
	case e == nil:
		q.seq++
		e = &queued[K]{key: key, at: at, seq: q.seq}
		q.entries[key] = e
		q.heap.Push(e)
	case e.at.Equal(at):
		return false
	default:
		q.seq++
		e.at, e.seq = at, q.seq
		q.heap.Fix(e.index)
	}
	return true
}

// Cancel removes key and reports whether it was pending. A key already
// handed to fire is no longer pending.
func (q *TimerQueue[K]) Cancel(key K) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	e := q.entries[key]
	if e == nil {
		return false
	}
	delete(q.entries, key)
	q.heap.Remove(e.index)
	q.armLocked()
	return true
}

// When returns the time key is due at; ok is false when it is not pending
// (never scheduled, cancelled, or handed to fire).
func (q *TimerQueue[K]) When(key K) (at time.Time, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if e := q.entries[key]; e != nil {
		return e.at, true
	}
	return time.Time{}, false
}

// Pending returns every pending key with its due time, for a caller to
// list (the admin API's holds).
func (q *TimerQueue[K]) Pending() map[K]time.Time {
	q.mu.Lock()
	defer q.mu.Unlock()
	out := make(map[K]time.Time, len(q.entries))
	for k, e := range q.entries {
		out[k] = e.at
	}
	return out
}

// Len is the number of pending keys.
func (q *TimerQueue[K]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.entries)
}

// Clear cancels every pending key.
func (q *TimerQueue[K]) Clear() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.clearLocked()
}

// Stop cancels every pending key, disarms the clock timer and waits for a
// fire call in progress to return; from then on the queue stays empty. It
// must not be called from fire, nor while holding a lock fire takes.
func (q *TimerQueue[K]) Stop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.stopped = true
	q.clearLocked()
	for q.firing {
		q.idle.Wait()
	}
}

func (q *TimerQueue[K]) clearLocked() {
	clear(q.entries)
	q.heap.Reset(nil)
	q.armLocked()
}

// armLocked sets the clock timer for the earliest key, unless it is set
// for that time already, and stops it when nothing is pending. q.mu held.
func (q *TimerQueue[K]) armLocked() {
	next, ok := q.heap.Peek()
	if q.timer != nil && ok && q.timerAt.Equal(next.at) {
		return
	}
	if q.timer != nil {
		q.timer.Stop()
		q.timer, q.timerAt = nil, time.Time{}
	}
	if !ok {
		return
	}
	q.gen++
	gen := q.gen
	q.timerAt = next.at
	q.timer = q.clock.AfterFunc(max(next.at.Sub(q.clock.Now()), 0), func() { q.wake(gen) })
}

// wake runs when a clock timer fires: it hands the due keys to fire, then
// arms for the next. A stale timer (replaced after it started firing)
// finds fewer keys due, or none.
func (q *TimerQueue[K]) wake(gen uint64) {
	q.mu.Lock()
	if gen == q.gen {
		q.timer, q.timerAt = nil, time.Time{}
	}
	if q.firing || q.stopped {
		// The fire call in progress arms again when it returns.
		q.mu.Unlock()
		return
	}
	due := q.popDueLocked(q.clock.Now())
	if len(due) == 0 {
		q.armLocked()
		q.mu.Unlock()
		return
	}
	q.firing = true
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		q.firing = false
		q.armLocked()
		q.idle.Broadcast()
		q.mu.Unlock()
	}()
	q.fire(due)
}

// popDueLocked removes and returns the keys due at or before now, in due
// order. q.mu held.
func (q *TimerQueue[K]) popDueLocked(now time.Time) []K {
	var due []K
	for {
		next, ok := q.heap.Peek()
		if !ok || next.at.After(now) {
			return due
		}
		q.heap.Pop()
		delete(q.entries, next.key)
		due = append(due, next.key)
	}
}
