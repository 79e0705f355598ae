package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
)

// DefaultMaxBacklog is how many accepted events may wait for their runs
// before Accept refuses more.
const DefaultMaxBacklog = 10_000

// Accept refuses an event with these; match them with errors.Is.
var (
	// ErrOverloaded: the backlog is at its limit, or a matched queued
	// rule's queue is full. Nothing was written; try again later.
	ErrOverloaded = errors.New("engine overloaded")
	// ErrUnavailable: the store could not journal the event. Nothing was
	// accepted; try again later.
	ErrUnavailable = errors.New("event store unavailable")
)

// accepted tracks one durable event in memory until every job it caused has
// finished; then it leaves the store's inbox.
type accepted struct {
	id   string
	jobs atomic.Int32
}

// destination is one rule (and trigger) an event goes to.
type destination struct {
	r       *runner
	trigger int
	level   bool // through the stateful trigger machinery
}

// admission is an event that passed admission control and, when durable,
// was journaled: dispatch hands it to its rules.
type admission struct {
	ev       *Event
	acc      *accepted // nil: not durable (startup, store failure)
	dests    []destination
	late     bool
	replayed bool
}

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
}

// inflight is the set of accepted events whose jobs have not all finished.
type inflight struct {
	mu  sync.Mutex
	ids map[string]*accepted
	n   atomic.Int64 // len(ids), read without the lock by admission control
}

// Accept journals ev durably and then hands it to its rules, like Publish,
// for callers that answer for it (the admin API): it fails with
// ErrOverloaded when the engine's backlog is full or a matched queued
// rule's queue is full, and with ErrUnavailable when the store fails, in
// both cases having written and run nothing. It returns ev with its id and
// time set.
func (e *Engine) Accept(ev Event) (Event, error) {
	a, err := e.admit(ev, true)
	if err != nil {
		return ev, err
	}
	e.dispatch(a)
	return *a.ev, nil
}

// Publish hands an event from an internal source (push, poller, schedule)
// to every rule whose trigger matches, once the store has journaled it. It
// does not wait for the write, so events published one after another share
// a transaction, but it waits for room in the store's queue. It never
// refuses: when the store fails it logs the error and runs the event
// anyway. Events published by one goroutine are dispatched in order.
func (e *Engine) Publish(ev Event) {
	a, err := e.route(ev)
	if err != nil {
		return // logged and counted by route
	}
	e.journaled.start()
	e.journal(a, func(err error) {
		if err != nil {
			e.log.Error("journal event: running it without a durable record", "event", a.ev.ID, "kind", a.ev.Kind, "err", err)
		}
		e.journaled.push(a)
	})
}

// admit fills in ev's id and time, finds its rules and, when any matches,
// journals it in the store's inbox before returning. With limit set it
// refuses instead of overfilling (Accept); without, a store failure is
// logged and the event goes on undurably.
func (e *Engine) admit(ev Event, limit bool) (*admission, error) {
	a, err := e.route(ev)
	if err != nil {
		return nil, err
	}
	if limit {
		if err := e.checkRoom(a); err != nil {
			return nil, err
		}
	}
	done := make(chan error, 1)
	e.journal(a, func(err error) { done <- err })
	switch err := <-done; {
	case err != nil && limit:
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	case err != nil:
		e.log.Error("journal event: running it without a durable record", "event", a.ev.ID, "kind", a.ev.Kind, "err", err)
	}
	return e.notified(a), nil
}

// journal writes a's event to the store's inbox when a rule takes it and
// calls then once it is durable (a.acc set), was there already (a.dests
// cleared: it runs from its first accept) or failed (err; a stays
// undurable). then runs on the store's writer and must not block.
func (e *Engine) journal(a *admission, then func(err error)) {
	e.metrics.countEvent(a.ev.Kind)
	if !e.needsInbox(a) {
		then(nil)
		return
	}
	// Track before the write, so a replay reading the inbox meanwhile
	// knows the event is in hand.
	acc := e.track(a.ev.ID, len(a.dests))
	if acc == nil {
		a.dests = nil
		then(nil)
		return
	}
	e.store.Accept(*a.ev, a.ev.Kind != KindSchedule, func(fresh bool, err error) {
		switch {
		case err != nil:
			e.untrack(acc)
		case !fresh:
			e.untrack(acc)
			a.dests = nil
		default:
			a.acc = acc
		}
		then(err)
	})
}

// route fills in ev's id and time and finds the rules it goes to.
func (e *Engine) route(ev Event) (*admission, error) {
	if ev.Time.IsZero() {
		ev.Time = e.clock.Now()
	}
	if ev.ID == "" {
		ev.ID = e.ids.Next(ev.Time)
	}
	if ev.Cause.Depth > e.maxDepth {
		e.metrics.depthDrops.Add(1)
		e.log.Warn("event dropped: rule chain too deep", "event", ev.ID, "kind", ev.Kind,
			"name", ev.Name, "rule", ev.Cause.Rule, "depth", ev.Cause.Depth, "limit", e.maxDepth)
		return nil, fmt.Errorf("event %s: rule chain deeper than %d", ev.ID, e.maxDepth)
	}
	return &admission{ev: &ev, late: isLate(ev), dests: e.destinations(&ev, nil)}, nil
}

// needsInbox reports whether a must be journaled in the inbox; an event
// no rule takes, or the startup event, only goes to the recent-events
// journal, behind the hot path.
func (e *Engine) needsInbox(a *admission) bool {
	if len(a.dests) > 0 && a.ev.Kind != KindStartup {
		return true
	}
	if a.ev.Kind != KindSchedule {
		ev := a.ev
		e.store.RecordEvent(EventRecord{ID: ev.ID, Kind: ev.Kind, Time: ev.Time, Device: ev.Device, Name: ev.Name, Data: ev.Data})
	}
	return false
}

// emitted routes the events a run emitted and tracks those that go to a
// rule: the run's commit accepts them (Commit.Accept) with its state.
func (e *Engine) emitted(rule string, depth int, ems []Emitted) (all []*admission, accept []Event) {
	for _, em := range ems {
		a, err := e.route(Event{Kind: KindCustom, Name: em.Name, Data: em.Data, Cause: Cause{Rule: rule, Depth: depth + 1}})
		if err != nil {
			continue // logged and counted by route
		}
		e.metrics.countEvent(KindCustom)
		if e.needsInbox(a) {
			if a.acc = e.track(a.ev.ID, len(a.dests)); a.acc != nil {
				accept = append(accept, *a.ev)
			}
		}
		all = append(all, a)
	}
	return all, accept
}

func (e *Engine) notified(a *admission) *admission {
	if e.onEvent != nil {
		e.onEvent(*a.ev)
	}
	return a
}

// destinations lists the enabled rules ev goes to, leaving out those in
// skip (the rules whose run of a replayed event finished).
func (e *Engine) destinations(ev *Event, skip []string) []destination {
	rs := e.rules.Load()
	var out []destination
	if ev.Target != "" {
		if r := rs.byID[ev.Target]; r != nil && r.rule.Enabled && !slices.Contains(skip, r.rule.ID) {
			out = append(out, destination{r: r, trigger: ev.TriggerIndex})
		}
		return out
	}
	rs.index.match(ev, func(r *runner, trigger int) {
		if r.rule.ID == ev.Cause.Rule || slices.Contains(skip, r.rule.ID) {
			return // a rule does not trigger itself through its own actions
		}
		out = append(out, destination{r: r, trigger: trigger, level: r.rule.Triggers[trigger].Level != nil})
	})
	return out
}

// checkRoom refuses an event the engine could not take without dropping
// it or making a queued rule skip it.
func (e *Engine) checkRoom(a *admission) error {
	if n := e.inflight.n.Load(); n >= int64(e.maxBacklog) {
		e.metrics.refused.Add(1)
		return fmt.Errorf("%w: %d accepted events wait for their runs (limit %d)", ErrOverloaded, n, e.maxBacklog)
	}
	for _, d := range a.dests {
		r := d.r
		if r.rule.Mode == ModeQueued && !d.level && r.waiting.Load() >= int64(max(r.rule.Max, 1)) {
			e.metrics.refused.Add(1)
			return fmt.Errorf("%w: the queue of rule %s is full (max %d)", ErrOverloaded, r.rule.ID, r.rule.Max)
		}
	}
	return nil
}

// track registers an accepted event with n jobs to finish; nil when an
// event of that id is in hand already.
func (e *Engine) track(id string, n int) *accepted {
	acc := &accepted{id: id}
	acc.jobs.Store(int32(n))
	e.inflight.mu.Lock()
	defer e.inflight.mu.Unlock()
	if e.inflight.ids[id] != nil {
		return nil
	}
	e.inflight.ids[id] = acc
	e.inflight.n.Add(1)
	return acc
}

// untrack forgets an event whose accept did not go through.
func (e *Engine) untrack(acc *accepted) {
	e.inflight.mu.Lock()
	defer e.inflight.mu.Unlock()
	if e.inflight.ids[acc.id] == acc {
		delete(e.inflight.ids, acc.id)
		e.inflight.n.Add(-1)
	}
}

// finish records that one job of an accepted event finished; the last one
// takes the event out of the store's inbox.
func (e *Engine) finish(acc *accepted) {
	if acc == nil || acc.jobs.Add(-1) != 0 {
		return
	}
	e.store.Complete(acc.id)
	e.untrack(acc)
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
		}
		e.gate.mu.Unlock()
		if len(held) == 0 {
			return
		}
		for _, a := range held {
			e.deliverAll(a)
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
}

// deliver queues j on r, or on the runner that replaced r in a reload; a
// job of a rule the reload removed is traced and counted, not lost unseen.
func (e *Engine) deliver(r *runner, j job) {
	for !r.offer(j) {
		next := e.rules.Load().byID[r.rule.ID]
		if next == nil || next == r || !next.rule.Enabled {
			r.drop(j, "rule removed by reload")
			return
		}
		r = next
	}
}

// replay runs the events the store holds as accepted but not completed:
// each goes to the rules it matches now that have no done mark for it.
func (e *Engine) replay() error {
	pending, err := e.store.Inbox()
	if err != nil {
		return fmt.Errorf("engine: load accepted events: %w", err)
	}
	replayed := 0
	for _, p := range pending {
		ev := p.Event
		a := &admission{ev: &ev, late: isLate(ev), replayed: true, dests: e.destinations(&ev, p.Done)}
		if a.acc = e.track(ev.ID, len(a.dests)); a.acc == nil {
			continue // accepted by this process before Run
		}
		if len(a.dests) == 0 { // every rule it matches has run it
			e.store.Complete(ev.ID)
			e.untrack(a.acc)
			continue
		}
		e.dispatch(a)
		replayed++
	}
	if len(pending) > 0 {
		e.log.Info("accepted events replayed after restart", "events", replayed, "completed", len(pending)-replayed)
	}
	e.openGate()
	return nil
}
