package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// inboxSize bounds each rule's inbox; beyond it events are dropped and
// counted (handler runs are never dropped: they wait in the pending queue).
const inboxSize = 256

var errRestarted = errors.New("restarted by a newer event")

type job struct {
	// ctx is made by the coordinator when the job starts, so that a restart
	// can cancel a run even before its instance exists.
	ctx     context.Context
	ev      *Event
	trigger int
	timer   *TimerRecord // set for a durable timer's handler run
	late    bool
}

// runner is the actor of one rule: a coordinator goroutine applies the
// rule's mode to incoming jobs and hands them to workers, each of which owns
// one Instance (one Lua state) for its whole life.
type runner struct {
	e     *Engine
	rule  *Rule
	inbox chan job

	mu      sync.Mutex
	state   json.RawMessage
	loaded  bool
	lastRun time.Time

	runs, failures, dropped, skipped atomic.Uint64
	done                             chan struct{}
}

func newRunner(e *Engine, r *Rule) *runner {
	return &runner{e: e, rule: r, inbox: make(chan job, inboxSize), done: make(chan struct{})}
}

// offer queues a job without blocking; a full inbox drops it, counted.
func (r *runner) offer(j job) bool {
	select {
	case r.inbox <- j:
		return true
	default:
		r.dropped.Add(1)
		r.e.metrics.drops.Add(1)
		r.e.log.Warn("rule inbox full: event dropped", "rule", r.rule.ID, "event", eventID(j.ev))
		return false
	}
}

type worker struct {
	jobs   chan job
	inst   Instance                // touched only by the worker's goroutine
	cancel context.CancelCauseFunc // of the run in progress; coordinator only
}

// loop is the coordinator. It returns when ctx ends and every run in
// progress has finished (or hit its deadline).
func (r *runner) loop(ctx context.Context) {
	defer close(r.done)
	maxWorkers := 1
	if r.rule.Mode == ModeParallel {
		maxWorkers = max(r.rule.Max, 1)
	}
	var (
		idle    []*worker
		busy    = map[*worker]bool{}
		pending []job // queued runs and handler runs, oldest first
		all     []*worker
		freed   = make(chan *worker)
	)
	start := func(j job) {
		var w *worker
		if n := len(idle); n > 0 {
			w, idle = idle[n-1], idle[:n-1]
		} else {
			w = &worker{jobs: make(chan job)}
			all = append(all, w)
			go r.work(w, freed)
		}
		busy[w] = true
		j.ctx, w.cancel = context.WithCancelCause(context.Background())
		w.jobs <- j
	}
	dispatch := func() {
		for len(pending) > 0 && len(busy) < maxWorkers {
			j := pending[0]
			pending = pending[1:]
			start(j)
		}
	}
	pendingEvents := func() int {
		n := 0
		for _, j := range pending {
			if j.timer == nil {
				n++
			}
		}
		return n
	}
	stopping := false
	var lastAccepted time.Time
	for {
		if stopping && len(busy) == 0 {
			for _, w := range all {
				close(w.jobs)
			}
			return
		}
		select {
		case <-ctx.Done():
			if !stopping {
				stopping = true
				ctx = context.Background() // keep waiting for busy workers
			}
		case w := <-freed:
			w.cancel(nil)
			delete(busy, w)
			idle = append(idle, w)
			if !stopping {
				dispatch()
			}
		case j := <-r.inbox:
			if stopping {
				continue
			}
			if j.timer == nil && r.rule.Throttle > 0 {
				now := r.e.clock.Now()
				if !lastAccepted.IsZero() && now.Sub(lastAccepted) < r.rule.Throttle {
					r.skip(j, fmt.Sprintf("throttled (at most one run per %s)", r.rule.Throttle))
					continue
				}
				lastAccepted = now
			}
			switch {
			case j.timer != nil:
				pending = append(pending, j)
			case r.rule.Mode == ModeSingle:
				if len(busy) > 0 || len(pending) > 0 {
					r.skip(j, "already running (mode single)")
					continue
				}
				pending = append(pending, j)
			case r.rule.Mode == ModeRestart:
				for w := range busy {
					w.cancel(errRestarted)
				}
				kept := pending[:0]
				for _, p := range pending {
					if p.timer != nil {
						kept = append(kept, p)
					} else {
						r.skip(p, "replaced by a newer event (mode restart)")
					}
				}
				pending = append(kept, j)
			case r.rule.Mode == ModeQueued:
				if pendingEvents() >= max(r.rule.Max, 1) {
					r.skip(j, fmt.Sprintf("queue full (max %d)", r.rule.Max))
					continue
				}
				pending = append(pending, j)
			case r.rule.Mode == ModeParallel:
				if len(busy) >= maxWorkers {
					r.skip(j, fmt.Sprintf("%d runs in progress (max %d)", len(busy), r.rule.Max))
					continue
				}
				pending = append(pending, j)
			}
			dispatch()
		}
	}
}

// work owns one instance; it is created lazily on this goroutine and closed here.
func (r *runner) work(w *worker, freed chan<- *worker) {
	defer func() {
		if w.inst != nil {
			w.inst.Close()
		}
	}()
	for j := range w.jobs {
		r.execute(w, j)
		freed <- w
	}
}

func (r *runner) currentState() (json.RawMessage, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.loaded {
		st, err := r.e.store.RuleState(r.rule.ID)
		if err != nil {
			return nil, fmt.Errorf("load state of rule %s: %w", r.rule.ID, err)
		}
		r.state = st
		r.loaded = true
	}
	return r.state, nil
}

func (r *runner) execute(w *worker, j job) {
	e := r.e
	started := e.clock.Now()
	wallStart := time.Now()
	tr := Trace{
		ID:      e.ids.Next(started),
		Rule:    r.rule.ID,
		EventID: eventID(j.ev),
		Started: started,
		Late:    j.late,
	}
	if j.timer != nil {
		tr.Handler = j.timer.Handler
	} else if j.trigger < len(r.rule.Triggers) {
		tr.Trigger = r.rule.Triggers[j.trigger].ID
	}
	if j.late {
		tr.Reason = "ran late: fell due while the engine was down"
	}

	res, runErr, cause := r.invoke(w, j)
	tr.DurationMS = float64(time.Since(wallStart).Microseconds()) / 1000
	tr.Actions = append(make([]Action, 0, len(res.Actions)), res.Actions...)
	tr.Log = append(make([]string, 0, len(res.Log)), res.Log...)

	ok := false
	switch {
	case errors.Is(cause, context.DeadlineExceeded):
		tr.Outcome = OutcomeTimeout
		tr.Error = fmt.Sprintf("run exceeded its timeout of %s", r.rule.Timeout)
	case errors.Is(cause, errRestarted):
		tr.Outcome = OutcomeSkipped
		tr.Reason = "cancelled: " + errRestarted.Error()
	case runErr != nil:
		tr.Outcome = OutcomeFailed
		tr.Error = runErr.Error()
	case res.Skipped:
		tr.Outcome = OutcomeSkipped
		tr.Reason = res.Reason
		ok = true
	case res.DryRun:
		tr.Outcome = OutcomeDryRun
		ok = true
	default:
		tr.Outcome = OutcomeOK
		ok = true
	}

	c := Commit{Trace: tr, Rule: r.rule.ID}
	if j.timer != nil {
		c.DeleteTimers = append(c.DeleteTimers, j.timer.ID)
	}
	var scheduled []TimerRecord
	if ok {
		c.RuleState = res.State
		c.GlobalSet, c.GlobalDelete = res.GlobalSet, res.GlobalDelete
		for _, t := range res.Timers {
			key := timerKey(r.rule.ID, t.ID)
			if t.Cancel {
				c.DeleteTimers = append(c.DeleteTimers, key)
				continue
			}
			rec := TimerRecord{ID: key, Rule: r.rule.ID, Handler: t.Handler, Args: t.Args, Due: t.Due, Created: started}
			c.PutTimers = append(c.PutTimers, rec)
			scheduled = append(scheduled, rec)
		}
	}
	durable := c.RuleState != nil || len(c.GlobalSet) > 0 || len(c.GlobalDelete) > 0 ||
		len(c.PutTimers) > 0 || len(c.DeleteTimers) > 0
	if durable {
		if err := e.store.Commit(c); err != nil {
			e.log.Error("commit run", "rule", r.rule.ID, "err", err)
			tr.Outcome, tr.Error = OutcomeFailed, "commit: "+err.Error()
			ok = false
			e.store.RecordTrace(tr)
		}
	} else {
		e.store.RecordTrace(tr)
	}
	if ok {
		if res.State != nil {
			r.mu.Lock()
			r.state = res.State
			r.mu.Unlock()
		}
		e.global.apply(res.GlobalSet, res.GlobalDelete)
		depth := 0
		if j.ev != nil {
			depth = j.ev.Cause.Depth
		}
		for _, em := range res.Emitted {
			e.Publish(Event{Kind: KindCustom, Name: em.Name, Data: em.Data, Cause: Cause{Rule: r.rule.ID, Depth: depth + 1}})
		}
	}
	e.timers.applied(c.DeleteTimers, scheduled)

	r.runs.Add(1)
	if tr.Outcome == OutcomeFailed || tr.Outcome == OutcomeTimeout {
		r.failures.Add(1)
	}
	r.mu.Lock()
	r.lastRun = started
	r.mu.Unlock()
	e.metrics.observeRun(r.rule.ID, tr.Outcome, tr.DurationMS)
	lvl := slog.LevelDebug
	if tr.Outcome == OutcomeFailed || tr.Outcome == OutcomeTimeout {
		lvl = slog.LevelWarn
	}
	e.log.Log(context.Background(), lvl, "rule run", "rule", r.rule.ID, "event", tr.EventID,
		"handler", tr.Handler, "outcome", tr.Outcome, "err", tr.Error, "ms", tr.DurationMS)
	e.notifyRun(tr)
}

// invoke runs the job on the worker's instance under the rule's deadline. It
// returns the run's result, its error, and the context's cause when the
// deadline or a restart ended it.
func (r *runner) invoke(w *worker, j job) (Result, error, error) {
	if w.inst == nil {
		inst, err := r.rule.NewInstance()
		if err != nil {
			return Result{}, fmt.Errorf("load rule: %w", err), nil
		}
		w.inst = inst
	}
	st, err := r.currentState()
	if err != nil {
		return Result{}, err, nil
	}
	ctx, stop := context.WithTimeoutCause(j.ctx, r.rule.Timeout, context.DeadlineExceeded)
	defer stop()
	if ctx.Err() != nil {
		return Result{}, nil, context.Cause(ctx)
	}

	inv := &Invocation{
		Event:        j.ev,
		TriggerIndex: j.trigger,
		State:        st,
		Global:       r.e.global.snapshot(),
		Late:         j.late,
	}
	if j.timer != nil {
		inv.Handler, inv.Args, inv.TimerID = j.timer.Handler, j.timer.Args, timerLocalID(j.timer.ID)
	}
	res := w.inst.Run(ctx, inv)
	if ctx.Err() != nil {
		return res, res.Err, context.Cause(ctx)
	}
	return res, res.Err, nil
}

// skip records a run that did not happen because of the rule's mode.
func (r *runner) skip(j job, reason string) {
	e := r.e
	now := e.clock.Now()
	tr := Trace{ID: e.ids.Next(now), Rule: r.rule.ID, EventID: eventID(j.ev), Started: now,
		Outcome: OutcomeSkipped, Reason: reason, Actions: []Action{}, Log: []string{}}
	r.skipped.Add(1)
	e.metrics.observeRun(r.rule.ID, OutcomeSkipped, 0)
	e.store.RecordTrace(tr)
	e.notifyRun(tr)
}

func eventID(ev *Event) string {
	if ev == nil {
		return ""
	}
	return ev.ID
}

func timerKey(rule, id string) string { return rule + "/" + id }

func timerLocalID(key string) string {
	for i := 0; i < len(key); i++ {
		if key[i] == '/' {
			return key[i+1:]
		}
	}
	return key
}
