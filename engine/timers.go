package engine

import (
	"sync"
	"time"
)

// timerService arms durable timers on the clock. The rows live in the
// store; this keeps the pending rows, by id, in a TimerQueue.
type timerService struct {
	e       *Engine
	queue   *TimerQueue[string]
	mu      sync.Mutex // taken before the queue's lock
	pending map[string]TimerRecord
	// reverts holds the ids of the pending revert rows (RevertHandler)
	// by their local id (revertPrefix + Change.Target()): a device change
	// finds the reverts of its target without a look at other timers.
	reverts map[string]map[string]struct{}
	stopped bool
}

func newTimerService(e *Engine) *timerService {
	ts := &timerService{e: e, pending: map[string]TimerRecord{}, reverts: map[string]map[string]struct{}{}}
	ts.queue = NewTimerQueue(e.clock, ts.due)
	return ts
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
	ts.stopped = true
	clear(ts.pending)
	clear(ts.reverts)
	ts.mu.Unlock()
	ts.queue.Stop() // waits for a due call in progress, which takes ts.mu
}

// applied follows a committed run: cancelled and fired timers are disarmed,
// new or rescheduled ones armed.
func (ts *timerService) applied(deleted []string, put []TimerRecord) {
	if len(deleted) == 0 && len(put) == 0 { // most runs: not the lock every worker shares
		return
	}
	ts.mu.Lock()
	for _, k := range deleted {
		ts.drop(k)
		ts.queue.Cancel(k)
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
	ts.drop(rec.ID)
	ts.pending[rec.ID] = rec
	if rec.Handler == RevertHandler {
		local := timerLocalID(rec.ID)
		if ts.reverts[local] == nil {
			ts.reverts[local] = map[string]struct{}{}
		}
		ts.reverts[local][rec.ID] = struct{}{}
	}
	ts.queue.Schedule(rec.ID, rec.Due)
}

// drop removes the pending row id; ts.mu is held.
func (ts *timerService) drop(id string) {
	if rec, ok := ts.pending[id]; ok && rec.Handler == RevertHandler {
		local := timerLocalID(id)
		if delete(ts.reverts[local], id); len(ts.reverts[local]) == 0 {
			delete(ts.reverts, local)
		}
	}
	delete(ts.pending, id)
}

// anyRevert reports whether a revert is pending, of any rule.
func (ts *timerService) anyRevert() bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return len(ts.reverts) > 0
}

// due fires the rows the queue found due. One cancelled since is gone from
// pending; one re-armed since is back in the queue and fires from there.
func (ts *timerService) due(ids []string) {
	ts.mu.Lock()
	recs := make([]TimerRecord, 0, len(ids))
	for _, id := range ids {
		rec, ok := ts.pending[id]
		if _, requeued := ts.queue.When(id); !ok || requeued {
			continue
		}
		ts.drop(id)
		recs = append(recs, rec)
	}
	ts.mu.Unlock()
	for _, rec := range recs {
		ts.fire(rec, false)
	}
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
	ev := &Event{ID: rec.FiringID(), Kind: KindHandler, Time: now, Name: rec.Handler}
	// The queue takes it without waiting; a runner a reload replaced
	// passes it to its successor.
	ts.e.deliver(r, job{ev: ev, timer: &rec, late: late})
}
