package schedule

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/alexarules/alexarules/engine"
)

// Entry is one scheduled trigger.
type Entry struct {
	ID     string
	Spec   Spec
	Missed Missed
}

// LastRuns persists, per entry id, the occurrence an entry last fired for,
// so a restart neither repeats an occurrence nor loses a missed one. The
// caller keeps it (in bbolt).
type LastRuns interface {
	LastRun(id string) (time.Time, bool)
	SetLastRun(id string, t time.Time) error
}

// Scheduler fires entries on a Clock. While Run runs, the pending
// occurrences wait in an engine.TimerQueue (one clock timer, for the
// earliest), and fire is called from that timer's callback, so on an
// engine.Virtual clock every fire due during Advance has happened when
// Advance returns.
type Scheduler struct {
	clock engine.Clock
	fire  func(id string, at time.Time, late bool)
	last  LastRuns
	log   *slog.Logger

	mu      sync.Mutex
	entries map[string]*entry
	fired   map[string]time.Time // latest occurrence fired (or persisted) per id
	firing  map[string]bool      // ids whose fire call is in progress
	running bool
	queue   *engine.TimerQueue[string] // pending occurrences while running
}

type entry struct {
	Entry
	key  string    // identity of the spec; a reload with the same key keeps next
	next time.Time // next occurrence while running; zero when none
}

// due is one fire to make.
type due struct {
	id string
	at time.Time
}

// New returns a Scheduler. fire is called with the entry id, the
// occurrence's scheduled time and late=true for a catch-up of an
// occurrence missed before Run started; it is never called concurrently
// for the same id and should return quickly (publish an event). last may
// be nil (nothing persisted, no catch-up); log may be nil.
func New(clock engine.Clock, fire func(id string, at time.Time, late bool), last LastRuns, log *slog.Logger) *Scheduler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Scheduler{
		clock:   clock,
		fire:    fire,
		last:    last,
		log:     log,
		entries: map[string]*entry{},
		fired:   map[string]time.Time{},
		firing:  map[string]bool{},
	}
}

// specKey identifies a spec across reloads: its text, time zone and, for
// sun times, place.
func specKey(s Spec) string {
	k := s.String()
	if l, ok := s.(interface{ Location() *time.Location }); ok {
		k += "\x00" + l.Location().String()
	}
	if p, ok := s.(interface{ Place() Place }); ok {
		k += fmt.Sprintf("\x00%g,%g", p.Place().Latitude, p.Place().Longitude)
	}
	return k
}

// Set replaces the whole set of entries (a rules reload). An id whose spec
// is unchanged keeps its next occurrence; a new or changed one is
// scheduled from now, never again for an occurrence it already fired.
func (s *Scheduler) Set(entries []Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	next := make(map[string]*entry, len(entries))
	for _, e := range entries {
		if e.Spec == nil {
			s.log.Warn("schedule entry without a spec ignored", "trigger", e.ID)
			continue
		}
		if _, dup := next[e.ID]; dup {
			s.log.Warn("duplicate schedule entry id; the last one wins", "trigger", e.ID)
		}
		k := specKey(e.Spec)
		if old, ok := s.entries[e.ID]; ok && old.key == k {
			old.Entry = e
			next[e.ID] = old
			continue
		}
		ne := &entry{Entry: e, key: k}
		if s.running {
			ne.next = s.nextAfter(ne, now)
			s.scheduleLocked(ne)
		}
		next[e.ID] = ne
	}
	for id := range s.entries {
		if _, ok := next[id]; !ok && s.queue != nil {
			s.queue.Cancel(id)
		}
	}
	s.entries = next
	for id := range s.fired {
		if _, ok := next[id]; !ok {
			delete(s.fired, id)
		}
	}
}

// Run fires entries until ctx ends. At start, an entry with a recorded
// last run whose occurrences passed since then applies its Missed policy
// to the latest of them. Run returns nil when ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return errors.New("schedule: scheduler already running")
	}
	s.running = true
	ids := make([]string, 0, len(s.entries))
	for id := range s.entries {
		ids = append(ids, id)
	}
	s.mu.Unlock()

	// Read the store without holding the lock.
	persisted := map[string]time.Time{}
	if s.last != nil {
		for _, id := range ids {
			if t, ok := s.last.LastRun(id); ok {
				persisted[id] = t
			}
		}
	}

	s.mu.Lock()
	now := s.clock.Now()
	var late []due
	for id, e := range s.entries {
		if t, ok := persisted[id]; ok && t.After(s.fired[id]) {
			s.fired[id] = t
		}
		if last, ok := s.fired[id]; ok && !s.firing[id] {
			if first := e.Spec.Next(last); !first.IsZero() && !first.After(now) {
				at := latest(e.Spec, first, now)
				if e.Missed.ShouldRun(at, now) {
					late = append(late, due{id, at})
					s.firing[id] = true
					s.fired[id] = at
				} else {
					s.log.Info("missed schedule skipped", "trigger", id, "missed", at, "policy", e.Missed.String())
				}
			}
		}
		e.next = s.nextAfter(e, now)
	}
	s.mu.Unlock()

	s.fireAll(late, true)
	// The queue starts only now, with every entry at once, so the first
	// clock timer is armed after the late fires (tests wait on that) and
	// for the earliest entry.
	s.mu.Lock()
	s.queue = engine.NewTimerQueue(s.clock, s.tick)
	s.queue.ScheduleAll(func(yield func(string, time.Time) bool) {
		for id, e := range s.entries {
			if !e.next.IsZero() && !s.firing[id] && !yield(id, e.next) {
				return
			}
		}
	})
	s.mu.Unlock()

	<-ctx.Done()
	s.mu.Lock()
	s.running = false
	q := s.queue
	s.queue = nil
	for _, e := range s.entries {
		e.next = time.Time{}
	}
	s.mu.Unlock()
	q.Stop() // waits for a tick in progress, which takes s.mu
	return nil
}

// NextRuns returns the next n fire times of entry id (nil for an unknown
// id): from its pending occurrence while running, from now otherwise.
func (s *Scheduler) NextRuns(id string, n int) []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[id]
	if !ok || n <= 0 {
		return nil
	}
	if e.next.IsZero() {
		return Upcoming(e.Spec, s.fromTime(id, s.clock.Now()), n)
	}
	return append([]time.Time{e.next}, Upcoming(e.Spec, e.next, n-1)...)
}

// fromTime is the time after which id's next occurrence lies: now, or
// its last fired occurrence if that is later (the clock went back).
func (s *Scheduler) fromTime(id string, now time.Time) time.Time {
	if f, ok := s.fired[id]; ok && f.After(now) {
		return f
	}
	return now
}

func (s *Scheduler) nextAfter(e *entry, now time.Time) time.Time {
	return e.Spec.Next(s.fromTime(e.ID, now))
}

// scheduleLocked queues e's next occurrence, unless it is firing (fireAll
// queues it when the fire returns) or the queue has not started yet (Run
// queues every entry once the late fires are done). s.mu held.
func (s *Scheduler) scheduleLocked(e *entry) {
	switch {
	case s.queue == nil || s.firing[e.ID]:
	case e.next.IsZero():
		s.queue.Cancel(e.ID)
	default:
		s.queue.Schedule(e.ID, e.next)
	}
}

// tick fires the entries the queue found due. One that a Set moved or
// removed since is skipped.
func (s *Scheduler) tick(ids []string) {
	s.mu.Lock()
	if !s.running {
		s.mu.Unlock()
		return
	}
	now := s.clock.Now()
	var list []due
	for _, id := range ids {
		e := s.entries[id]
		if e == nil || e.next.IsZero() || e.next.After(now) || s.firing[id] {
			continue
		}
		// A late timer (a suspended machine, a slow fire) fires the
		// latest occurrence once rather than each one it slept through.
		at := latest(e.Spec, e.next, now)
		list = append(list, due{id, at})
		s.firing[id] = true
		s.fired[id] = at
		e.next = e.Spec.Next(now)
	}
	s.mu.Unlock()
	s.fireAll(list, false)
}

// fireAll calls fire for each due entry, records the run, and queues the
// entry's next occurrence. It holds no lock while calling out.
func (s *Scheduler) fireAll(list []due, late bool) {
	slices.SortFunc(list, func(a, b due) int {
		return cmp.Or(a.at.Compare(b.at), cmp.Compare(a.id, b.id))
	})
	for _, d := range list {
		s.call(d, late)
		if s.last != nil {
			if err := s.last.SetLastRun(d.id, d.at); err != nil {
				s.log.Error("record schedule run", "trigger", d.id, "at", d.at, "err", err)
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range list {
		delete(s.firing, d.id)
		if e := s.entries[d.id]; e != nil {
			s.scheduleLocked(e)
		}
	}
}

// call runs fire, so that a panicking callback costs one tick, not the
// scheduler (it runs on a timer goroutine no supervisor watches).
func (s *Scheduler) call(d due, late bool) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("schedule fire panicked", "trigger", d.id, "at", d.at, "panic", r)
		}
	}()
	s.log.Debug("schedule fired", "trigger", d.id, "at", d.at, "late", late)
	s.fire(d.id, d.at, late)
}

// latest returns the last occurrence of spec at or before now, given
// first, an occurrence at or before now.
func latest(spec Spec, first, now time.Time) time.Time {
	at := first
	// Sparse schedules: a few steps reach it.
	for range 8 {
		n := spec.Next(at)
		if n.IsZero() || n.After(now) {
			return at
		}
		at = n
	}
	if n := spec.Next(at); n.IsZero() || n.After(now) {
		return at
	}
	// Dense ones: bisect for the last x with Next(x) <= now (Next is
	// monotonic in x); Next of that x is the answer.
	lo, hi := at, now
	for hi.Sub(lo) > time.Nanosecond {
		mid := lo.Add(hi.Sub(lo) / 2)
		if n := spec.Next(mid); !n.IsZero() && !n.After(now) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return spec.Next(lo)
}
