package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
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
	// Under inflight.mu: journaling is set while Accept or Publish writes
	// the event to the inbox; handed is the inbox's record of the event
	// that the replay found meanwhile and left to that write (trackReplayed).
	journaling bool
	handed     *Pending
}

// destination is one rule (and trigger) an event goes to.
type destination struct {
	r       *runner
	trigger int
	level   bool // through the stateful trigger machinery
	// reserved: Accept holds a place in the queued rule's queue for the
	// event until it is delivered (runner.reserve).
	reserved bool
}

// admission is an event that passed admission control and, when durable,
// was journaled: dispatch hands it to its rules.
type admission struct {
	ev       *Event
	acc      *accepted // nil: not durable (startup, store failure)
	dests    []destination
	late     bool
	replayed bool
	// journaled is admit's wait for the store's answer, journalErr the
	// answer: no channel per accepted event.
	journaled  sync.WaitGroup
	journalErr error
	// first holds dests when the event goes to one rule, as most do:
	// no array of its own.
	first [1]destination
	// own is acc when journal tracks the event: no allocation of its own.
	own accepted
}

// newAdmission routes ev (destinations) for an admission.
func (e *Engine) newAdmission(ev *Event, skip []string) *admission {
	a := &admission{ev: ev, late: isLate(*ev)}
	a.dests = e.destinations(a.first[:0], ev, skip)
	return a
}

// inflight is the set of accepted events whose jobs have not all finished.
type inflight struct {
	mu  sync.Mutex
	ids map[string]*accepted
	n   atomic.Int64 // len(ids), read without the lock by admission control
	// room, when set, is closed once the backlog is an eighth below its
	// limit (roomAt): WaitRoom's callers wait on it. While it is set the
	// backlog counts as full for everyone (full mirrors it for readers
	// without the lock): a newcomer taking each finished event's place
	// would otherwise keep the waiters asleep for as long as it came.
	room chan struct{}
	full atomic.Bool
	// waiters counts the admissions waiting for room (AcceptWithin).
	waiters atomic.Int32
}

// MaxRoomWaiters bounds the admissions AcceptWithin holds at once while
// the backlog is full; past it they are refused at once. Each holds its
// request (and its goroutine) meanwhile.
const MaxRoomWaiters = 1024

// WaitRoom returns once the engine's backlog has room for more events, or
// ctx's error when it ends first. Sources that can slow down (the push
// connection, the poller) call it before taking more work, so that at
// capacity they wait instead of adding to the backlog that POST
// /api/events answers 429 for. A backlog that someone waits on counts as
// full until it is an eighth below its limit (roomAt), for newcomers too:
// waking every waiter at each finished event would cost more than the
// event, and a newcomer taking each finished event's place would keep
// them waiting for as long as newcomers came.
func (e *Engine) WaitRoom(ctx context.Context) error { return e.waitRoom(ctx, false) }

// waitRoom is WaitRoom; counted counts the caller in Backlog().Waiting
// while it waits (from the moment it is registered, so a test that sees
// it counted knows it will be woken).
func (e *Engine) waitRoom(ctx context.Context, counted bool) error {
	for {
		e.inflight.mu.Lock()
		var room chan struct{}
		if e.inflight.n.Load() >= int64(e.maxBacklog) || e.inflight.room != nil {
			if e.inflight.room == nil {
				e.inflight.room = make(chan struct{})
				e.inflight.full.Store(true)
			}
			room = e.inflight.room
			if counted {
				e.inflight.waiters.Add(1)
			}
		}
		e.inflight.mu.Unlock()
		if room == nil {
			return nil
		}
		var err error
		select {
		case <-ctx.Done():
			err = ctx.Err()
		case <-room:
		}
		if counted {
			e.inflight.waiters.Add(-1)
		}
		if err != nil {
			return err
		}
	}
}

// Backlog is the engine's backlog at one moment.
type Backlog struct {
	Events  int // accepted events whose runs have not all finished
	Limit   int // Config.MaxBacklog
	Waiting int // admissions waiting for room (AcceptWithin)
}

// Backlog reports the engine's backlog.
func (e *Engine) Backlog() Backlog {
	return Backlog{Events: int(e.inflight.n.Load()), Limit: e.maxBacklog, Waiting: int(e.inflight.waiters.Load())}
}

// roomAt is the backlog below which WaitRoom's waiters wake.
func (e *Engine) roomAt() int64 { return int64(e.maxBacklog - e.maxBacklog/8) }

// Accept journals ev durably and then hands it to its rules, like Publish,
// for callers that answer for it (the admin API): it fails with
// ErrOverloaded when the engine's backlog is full or a matched queued
// rule's queue is full, and with ErrUnavailable when the store fails, in
// both cases having written and run nothing. It returns ev with its id and
// time set.
func (e *Engine) Accept(ev Event) (Event, error) {
	return e.AcceptWithin(context.Background(), ev, 0)
}

// AcceptWithin is Accept for a caller that can be held a moment: while
// the backlog is full it waits for room (WaitRoom) up to wait, or until
// ctx ends, and only then fails with ErrOverloaded. A matched queued
// rule's full queue is not waited for: it is refused as by Accept.
func (e *Engine) AcceptWithin(ctx context.Context, ev Event, wait time.Duration) (Event, error) {
	// The wait comes before the event is routed: a reload during it
	// changes the rules the event goes to.
	a, err := e.admit(ev, &roomWait{ctx: ctx, d: wait})
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
	e.journal(a, func(e *Engine, a *admission, err error) {
		if err != nil {
			e.logUndurable(a, err)
		}
		e.journaled.push(a)
	})
}

// admit fills in ev's id and time, finds its rules and, when any matches,
// journals it in the store's inbox before returning. With limit set it
// refuses instead of overfilling (Accept); without, a store failure is
// logged and the event goes on undurably.
func (e *Engine) admit(ev Event, limit *roomWait) (*admission, error) {
	full := int64(-1)
	if limit != nil {
		full = e.roomFor(limit)
	}
	a, err := e.route(ev)
	if err != nil {
		return nil, err
	}
	if limit != nil {
		if err := e.checkRoom(a, full); err != nil {
			return nil, err
		}
	}
	a.journaled.Add(1)
	e.journal(a, func(_ *Engine, a *admission, err error) {
		a.journalErr = err
		a.journaled.Done()
	})
	a.journaled.Wait()
	switch err := a.journalErr; {
	case err != nil && limit != nil:
		unreserve(a.dests)
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	case err != nil:
		e.logUndurable(a, err)
	}
	return e.notified(a), nil
}

// logUndurable reports an event that runs although the store could not
// journal it: a crash before its runs finish loses it.
func (e *Engine) logUndurable(a *admission, err error) {
	e.log.Error("journal event: running it without a durable record", "event", a.ev.ID, "kind", a.ev.Kind, "err", err)
}

// journal writes a's event to the store's inbox when a rule takes it and
// calls then once it is durable (a.acc set), was there already (a.dests
// cleared: it runs from its first accept) or failed (err; a stays
// undurable). then runs on the store's writer and must not block. It is
// given e and a rather than closing over them: a function literal that
// captures nothing costs no allocation per event.
func (e *Engine) journal(a *admission, then func(e *Engine, a *admission, err error)) {
	e.metrics.countEvent(a.ev.Kind)
	if !e.needsInbox(a) {
		then(e, a, nil)
		return
	}
	// Track before the write, so a replay reading the inbox meanwhile
	// knows the event is in hand.
	acc := e.trackJournaling(&a.own, a.ev.ID, len(a.dests))
	if acc == nil {
		unreserve(a.dests)
		a.dests = nil
		then(e, a, nil)
		return
	}
	e.store.Accept(*a.ev, a.ev.Kind != KindSchedule, func(fresh bool, err error) {
		runs := err == nil && fresh
		// Untracked in the same lock as journaling ends: a replay
		// that finds the entry afterwards must not take it for a run.
		handed := e.journaledAcc(acc, runs)
		switch {
		case runs:
			a.acc = acc
		case handed != nil:
			// The inbox holds the event: the replay that left it to
			// this write runs it, and this write must not run it too
			// (undurably, when it failed). Not on the store's writer,
			// which a replay's Complete would wait for.
			unreserve(a.dests)
			a.dests, err = nil, nil
			go e.replayOne(*handed)
		case !fresh && err == nil:
			unreserve(a.dests)
			a.dests = nil
		}
		then(e, a, err)
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
	return e.newAdmission(&ev, nil), nil
}

// needsInbox reports whether a must be journaled in the inbox; an event
// no rule takes, or the startup event, only goes to the recent-events
// journal, behind the hot path.
func (e *Engine) needsInbox(a *admission) bool {
	if len(a.dests) > 0 && a.ev.Kind != KindStartup {
		return true
	}
	// No run to keep exactly once: the source's records are written alone.
	for _, w := range a.ev.Writes {
		if err := e.store.Put(w.Bucket, w.Key, w.Value); err != nil {
			e.log.Error("store the record of an event", "event", a.ev.ID, "kind", a.ev.Kind, "err", err)
		}
	}
	if a.ev.Kind != KindSchedule {
		ev := a.ev
		e.store.RecordEvent(ev.Record())
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

// destinations appends the enabled rules ev goes to to out, leaving out
// those in skip (the rules whose run of a replayed event finished).
func (e *Engine) destinations(out []destination, ev *Event, skip []string) []destination {
	rs := e.rules.Load()
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

// roomWait is how long an admission may wait for room in a full backlog,
// and the caller's context, which ends the wait sooner.
type roomWait struct {
	ctx context.Context
	d   time.Duration
}

// roomFor returns -1 when the backlog has room for one more event, else
// the backlog it found full, after waiting for room as w allows.
func (e *Engine) roomFor(w *roomWait) int64 {
	if n := e.inflight.n.Load(); n < int64(e.maxBacklog) && !e.inflight.full.Load() {
		return -1
	} else if w.d <= 0 || e.inflight.waiters.Load() >= MaxRoomWaiters {
		return n
	}
	return e.waitRoomFor(w)
}

// checkRoom refuses an event the engine could not take without dropping
// it or making a queued rule skip it: the backlog was full (roomFor's
// answer, full >= 0) or a matched queued rule's queue is.
func (e *Engine) checkRoom(a *admission, full int64) error {
	if full >= 0 {
		e.refused(a, "backlog full")
		return fmt.Errorf("%w: %d accepted events wait for their runs (limit %d)", ErrOverloaded, full, e.maxBacklog)
	}
	// A place in each queued rule's queue is reserved, not only checked:
	// two Accepts racing for the last place would both be answered 202,
	// and the rule would then skip one as "queue full".
	for i := range a.dests {
		d := &a.dests[i]
		r := d.r
		if r.rule.Mode != ModeQueued || r.rule.Key != nil || d.level {
			continue
		}
		if !r.reserve() {
			unreserve(a.dests[:i])
			e.refused(a, "queue of rule "+r.rule.ID+" full")
			return fmt.Errorf("%w: the queue of rule %s is full (max %d)", ErrOverloaded, r.rule.ID, r.rule.Max)
		}
		d.reserved = true
	}
	return nil
}

// waitRoomFor is roomFor's wait. The timer is made only here: an event
// that finds room pays nothing for the wait it could have had.
func (e *Engine) waitRoomFor(w *roomWait) int64 {
	ctx, cancel := context.WithTimeout(w.ctx, w.d)
	defer cancel()
	for e.waitRoom(ctx, true) == nil {
		// Woken with room; the admissions woken with this one may have
		// filled it again.
		if n := e.inflight.n.Load(); n < int64(e.maxBacklog) && !e.inflight.full.Load() {
			return -1
		}
	}
	return e.inflight.n.Load()
}

// track registers an accepted event with n jobs to finish; nil when an
// event of that id is in hand already.
func (e *Engine) track(id string, n int) *accepted {
	e.inflight.mu.Lock()
	defer e.inflight.mu.Unlock()
	return e.trackLocked(nil, id, n)
}

// trackJournaling is track for an event about to be written to the inbox
// (journal), in into: until journaledAcc, a replay that finds the event in
// the inbox leaves it to the write.
func (e *Engine) trackJournaling(into *accepted, id string, n int) *accepted {
	e.inflight.mu.Lock()
	defer e.inflight.mu.Unlock()
	acc := e.trackLocked(into, id, n)
	if acc != nil {
		acc.journaling = true
	}
	return acc
}

// trackReplayed is track for an event the replay found in the inbox. When
// an event of that id is being written to the inbox (its message came
// again), it hands p to that write (nil): the write either runs the event
// (fresh) or, finding it journaled already or failing, replays p
// (journal). Either way one of the two runs it, once.
func (e *Engine) trackReplayed(p Pending, n int) *accepted {
	e.inflight.mu.Lock()
	defer e.inflight.mu.Unlock()
	if cur := e.inflight.ids[p.Event.ID]; cur != nil {
		if cur.journaling {
			cur.handed = &p
		}
		return nil
	}
	return e.trackLocked(nil, p.Event.ID, n)
}

// trackLocked is track with inflight.mu held, in acc (an admission's
// own, unused) or, when nil, a new record.
func (e *Engine) trackLocked(acc *accepted, id string, n int) *accepted {
	if e.inflight.ids[id] != nil {
		return nil
	}
	if acc == nil {
		acc = new(accepted)
	}
	acc.id = id
	acc.jobs.Store(int32(n))
	e.inflight.ids[id] = acc
	e.inflight.n.Add(1)
	return acc
}

// journaledAcc ends acc's inbox write, untracking it unless keep (the
// write runs the event), and returns what the replay handed to it
// meanwhile, if anything. Both under one lock: a replay that finds the
// entry after journaling ended must not take it for a run in hand.
func (e *Engine) journaledAcc(acc *accepted, keep bool) *Pending {
	e.inflight.mu.Lock()
	defer e.inflight.mu.Unlock()
	acc.journaling = false
	if !keep {
		e.untrackLocked(acc)
	}
	p := acc.handed
	acc.handed = nil
	return p
}

// untrack forgets an event whose accept did not go through.
func (e *Engine) untrack(acc *accepted) {
	e.inflight.mu.Lock()
	defer e.inflight.mu.Unlock()
	e.untrackLocked(acc)
}

// untrackLocked is untrack with inflight.mu held.
func (e *Engine) untrackLocked(acc *accepted) {
	if e.inflight.ids[acc.id] == acc {
		delete(e.inflight.ids, acc.id)
		if e.inflight.n.Add(-1) < e.roomAt() && e.inflight.room != nil {
			close(e.inflight.room)
			e.inflight.room = nil
			e.inflight.full.Store(false)
		}
	}
}

// finish records that one job of an accepted event finished; the last one
// takes the event out of the store's inbox.
func (e *Engine) finish(acc *accepted) {
	if acc == nil || acc.jobs.Add(-1) != 0 {
		return
	}
	e.completed(acc, false)
}

// lastJob claims the completion of acc for a job about to commit when it
// is the event's only unfinished job: its commit can then take the event
// out of the inbox (Commit.Complete) in the same write, instead of a done
// mark that a later Complete deletes. The claimer calls completed.
func lastJob(acc *accepted) bool {
	return acc != nil && acc.jobs.CompareAndSwap(1, 0)
}

// completed forgets an event whose jobs have all finished, taking it out
// of the store's inbox unless the last job's commit did (inStore).
func (e *Engine) completed(acc *accepted, inStore bool) {
	if !inStore {
		e.store.Complete(acc.id)
	}
	e.untrack(acc)
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
		if e.replayOne(p) {
			replayed++
		}
	}
	if len(pending) > 0 {
		e.log.Info("accepted events replayed after restart", "events", replayed, "completed", len(pending)-replayed)
	}
	e.openGate()
	return nil
}

// replayOne hands an event the store holds as accepted but not completed
// to the rules it matches now that have no done mark for it, and reports
// whether any does. An event in hand already (accepted by this process
// before Run, or being accepted again) is left to its accept.
func (e *Engine) replayOne(p Pending) bool {
	ev := p.Event
	a := e.newAdmission(&ev, p.Done)
	a.replayed = true
	if a.acc = e.trackReplayed(p, len(a.dests)); a.acc == nil {
		return false
	}
	if len(a.dests) == 0 { // every rule it matches has run it
		e.store.Complete(ev.ID)
		e.untrack(a.acc)
		return false
	}
	e.dispatch(a)
	return true
}

// reserve takes a place in a queued rule's queue for an event Accept is
// journaling, if one is free: waiting jobs and places reserved together
// stay within max. offer counts the job as waiting before deliverAll gives
// the place back, so the sum never undercounts.
func (r *runner) reserve() bool {
	limit := int64(max(r.rule.Max, 1))
	for {
		held := r.reserved.Load()
		if r.waiting.Load()+held >= limit {
			return false
		}
		if r.reserved.CompareAndSwap(held, held+1) {
			return true
		}
	}
}

// unreserve gives back the places ds reserved.
func unreserve(ds []destination) {
	for i := range ds {
		if ds[i].reserved {
			ds[i].r.reserved.Add(-1)
			ds[i].reserved = false
		}
	}
}
