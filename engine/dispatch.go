package engine

import (
	"context"
	"sync"
)

// fifo hands journaled events from the store's writer to the dispatching
// goroutine, in order, without blocking the writer.
type fifo struct {
	mu    sync.Mutex
	items []*admission
	wake  chan struct{} // buffered, one
	// started counts Publish calls; done those dispatched. waiters are
	// SyncTriggers calls waiting for done to reach their target.
	started, done uint64
	waiters       []fifoWaiter
}

type fifoWaiter struct {
	target uint64
	ch     chan struct{}
}

func (q *fifo) start() {
	q.mu.Lock()
	q.started++
	q.mu.Unlock()
}

// waitAll returns a channel closed once every Publish started before the
// call has been dispatched.
func (q *fifo) waitAll() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	ch := make(chan struct{})
	if q.done >= q.started {
		close(ch)
		return ch
	}
	q.waiters = append(q.waiters, fifoWaiter{q.started, ch})
	return ch
}

// finished records n dispatched events and releases the waiters they
// satisfy.
func (q *fifo) finished(n int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.done += uint64(n)
	keep := q.waiters[:0]
	for _, w := range q.waiters {
		if q.done >= w.target {
			close(w.ch)
		} else {
			keep = append(keep, w)
		}
	}
	q.waiters = keep
}

func (q *fifo) push(a *admission) {
	q.mu.Lock()
	q.items = append(q.items, a)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// run dispatches what Publish journaled until ctx ends; what is left then
// is in the store's inbox and replays at the next start.
func (e *Engine) runJournaled(ctx context.Context) {
	q := &e.journaled
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
		}
		q.mu.Lock()
		items := q.items
		q.items = nil
		q.mu.Unlock()
		for _, a := range items {
			e.dispatch(e.notified(a))
		}
		q.finished(len(items))
	}
}

// gate holds events dispatched before Run's replay finished.
type gate struct {
	mu   sync.Mutex
	open bool
	held []*admission
	// opened is closed once open is set: the events held have been
	// handed to their rules (SyncTriggers waits for it).
	opened chan struct{}
}

// dispatch hands an admitted event to its rules. Until Run has replayed
// the events accepted before a restart, newer events wait behind them.
func (e *Engine) dispatch(a *admission) {
	if !a.replayed && e.hold(a) {
		return
	}
	e.deliverAll(a)
}

// hold keeps a back while the replay has not finished; it reports whether
// it did.
func (e *Engine) hold(a *admission) bool {
	e.gate.mu.Lock()
	defer e.gate.mu.Unlock()
	if e.gate.open {
		return false
	}
	e.gate.held = append(e.gate.held, a)
	e.work.Add(1) // in hand until openGate delivers it
	return true
}

// openGate dispatches the events held during the replay, in order, then
// lets events through. It does not hold the lock while dispatching, which
// may wait for the stateful triggers' goroutine.
func (e *Engine) openGate() {
	for {
		e.gate.mu.Lock()
		held := e.gate.held
		e.gate.held = nil
		if len(held) == 0 {
			e.gate.open = true
			close(e.gate.opened)
		}
		e.gate.mu.Unlock()
		if len(held) == 0 {
			return
		}
		for _, a := range held {
			e.deliverAll(a)
			e.work.Add(-1) // counted by hold; its jobs count now
		}
	}
}

func (e *Engine) deliverAll(a *admission) {
	for _, d := range a.dests {
		if d.level {
			e.levels.offer(d.r, d.trigger, a.ev, a.acc)
			continue
		}
		e.deliver(d.r, job{ev: a.ev, trigger: d.trigger, late: a.late, replayed: a.replayed, acc: a.acc})
	}
	unreserve(a.dests) // the jobs are counted as waiting now
}

// deliver queues j on r, or on the runner that replaced r in a reload; a
// job of a rule the reload removed is traced and counted, not lost unseen.
func (e *Engine) deliver(r *runner, j job) {
	e.work.Add(1) // until its trace is notified
	for !r.offer(j) {
		next := e.rules.Load().byID[r.rule.ID]
		if next == nil || next == r || !next.rule.Enabled {
			r.drop(j, "rule removed by reload")
			return
		}
		r = next
	}
}
