package engine

import (
	"sync"
	"time"
)

// timerService arms durable timers on the clock. The rows live in the
// store; this keeps one clock timer per pending row.
type timerService struct {
	e       *Engine
	mu      sync.Mutex
	pending map[string]Stopper
	stopped bool
}

// start arms every stored timer; those that fell due while the engine was
// down run once now, marked late.
func (ts *timerService) start() error {
	recs, err := ts.e.store.Timers()
	if err != nil {
		return err
	}
	now := ts.e.clock.Now()
	for _, rec := range recs {
		if rec.Due.After(now) {
			ts.arm(rec)
		} else {
			ts.fire(rec, true)
		}
	}
	return nil
}

func (ts *timerService) stop() {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.stopped = true
	for k, s := range ts.pending {
		s.Stop()
		delete(ts.pending, k)
	}
}

// applied follows a committed run: cancelled and fired timers are disarmed,
// new or rescheduled ones armed.
func (ts *timerService) applied(deleted []string, put []TimerRecord) {
	ts.mu.Lock()
	for _, k := range deleted {
		if s := ts.pending[k]; s != nil {
			s.Stop()
			delete(ts.pending, k)
		}
	}
	ts.mu.Unlock()
	for _, rec := range put {
		ts.arm(rec)
	}
}

func (ts *timerService) arm(rec TimerRecord) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.stopped {
		return
	}
	if s := ts.pending[rec.ID]; s != nil {
		s.Stop()
	}
	d := max(rec.Due.Sub(ts.e.clock.Now()), 0)
	var s Stopper
	s = ts.e.clock.AfterFunc(d, func() {
		ts.mu.Lock()
		current := ts.pending[rec.ID] == s
		if current {
			delete(ts.pending, rec.ID)
		}
		ts.mu.Unlock()
		if current {
			ts.fire(rec, false)
		}
	})
	ts.pending[rec.ID] = s
}

func (ts *timerService) fire(rec TimerRecord, late bool) {
	r := ts.e.rules.Load().byID[rec.Rule]
	if r == nil {
		ts.e.log.Warn("timer of an unknown rule kept for later", "rule", rec.Rule, "timer", rec.ID, "handler", rec.Handler)
		return
	}
	now := ts.e.clock.Now()
	// A timer that fired more than a second after its due time ran late.
	late = late || now.Sub(rec.Due) > time.Second
	ev := &Event{ID: ts.e.ids.Next(now), Kind: KindHandler, Time: now, Name: rec.Handler}
	// The queue takes it without waiting; a runner a reload replaced
	// passes it to its successor.
	ts.e.deliver(r, job{ev: ev, timer: &rec, late: late})
}
