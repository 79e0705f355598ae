package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// inboxSize sizes the stateful triggers' queue (levels), which makes its
// senders wait when full. Rule queues are not bounded here: Accept's
// admission control bounds what waits in them.
const inboxSize = 256

var errRestarted = errors.New("restarted by a newer event")

type job struct {
	// ctx is made by the coordinator when the job starts, so that a restart
	// can cancel a run even before its instance exists.
	ctx     *runCtx
	ev      *Event
	trigger int
	timer   *TimerRecord // set for a durable timer's handler run
	late    bool
	// acc is the accepted event this job is one run of; nil when the
	// event is not durable (startup, timer handler runs).
	acc      *accepted
	replayed bool // the event was accepted before a restart
	// key is the rule's key of the event (Rule.Key); "" without one.
	key string
}

// runner is the actor of one rule: a coordinator goroutine applies the
// rule's mode to incoming jobs and hands them to workers, each of which owns
// one Instance (one Lua state) for its whole life.
type runner struct {
	e    *Engine
	rule *Rule

	// queue holds offered jobs (events and the handler runs of durable
	// timers) until the coordinator takes them; wake (buffered, one) tells
	// the coordinator there are some. The slice grows only as far as a
	// burst needs. left holds the jobs the coordinator had queued but not
	// started when it stopped; closed refuses offers once a reload took
	// both for the new runner.
	qmu    sync.Mutex
	queue  []job
	left   []job
	closed bool
	wake   chan struct{}
	// retiring are idle workers the state cache retired (states.over):
	// the coordinator closes them when it wakes.
	retiring []*worker
	// The coordinator's goroutine runs only while the rule has work
	// (parked: a rule that fires once a day costs no goroutine stack in
	// between); c keeps its state across parking. ctx and set are given by
	// ruleSet.start; active says the goroutine runs; halted stops new ones.
	ctx    context.Context
	set    *ruleSet
	c      *coordinator
	active bool
	halted bool
	// waiting counts event jobs offered and not yet started or skipped:
	// Accept refuses an event a full queued rule would skip.
	waiting atomic.Int64
	// reserved counts the places Accept holds for events on their way to
	// the queue (journaled, not yet offered).
	reserved atomic.Int64

	mu      sync.Mutex
	state   json.RawMessage
	loaded  bool
	lastRun time.Time

	runs, failures, dropped, skipped atomic.Uint64

	breaker *ruleBreaker // the runaway breaker of the rule's id
}

func newRunner(e *Engine, r *Rule) *runner {
	return &runner{e: e, rule: r, wake: make(chan struct{}, 1), breaker: e.breaker.forRule(r.ID)}
}

// offer queues a job without blocking. It reports false only when a reload
// has replaced the runner (Engine.deliver then finds the new one).
func (r *runner) offer(j job) bool {
	r.qmu.Lock()
	if r.closed {
		r.qmu.Unlock()
		return false
	}
	if j.timer == nil {
		r.waiting.Add(1)
	}
	r.queue = append(r.queue, j)
	r.spawn()
	r.qmu.Unlock()
	r.signal()
	return true
}

// poke wakes the coordinator, starting its goroutine when it is parked.
func (r *runner) poke() {
	r.qmu.Lock()
	r.spawn()
	r.qmu.Unlock()
	r.signal()
}

// spawn starts the coordinator's goroutine when the runner has been
// started, is not halted and its goroutine is parked; r.qmu is held.
func (r *runner) spawn() {
	if r.ctx == nil || r.halted || r.active {
		return
	}
	if r.c == nil {
		r.c = newCoordinator(r)
	}
	r.active = true
	r.set.done.Add(1)
	go r.loop()
}

// park lets the coordinator's goroutine end when nothing was offered or
// retired since it last looked; it reports whether it may.
func (r *runner) park() bool {
	r.qmu.Lock()
	defer r.qmu.Unlock()
	if len(r.queue) > 0 || len(r.retiring) > 0 {
		return false
	}
	r.active = false
	if c := r.c; len(c.all) == 0 && len(c.lastAccepted) == 0 && !c.warmed {
		// Nothing to remember (no worker, no throttle window): the next
		// spawn makes a new coordinator, and a parked rule keeps no maps,
		// channel or queue array (about 1 KB each of 10,000 rules).
		r.c, r.queue = nil, nil
	}
	return true
}

// start lets the runner run under ctx (ruleSet.start): its coordinator
// starts now when jobs wait or a parallel rule's pool is to be built,
// else with the first job.
func (r *runner) start(ctx context.Context, set *ruleSet) {
	r.qmu.Lock()
	r.ctx, r.set = ctx, set
	if len(r.queue) > 0 || r.rule.Mode == ModeParallel && r.rule.Enabled {
		r.spawn()
	}
	r.qmu.Unlock()
	r.signal()
}

// halt stops the runner (ruleSet.halt): a parked coordinator is stopped
// here, a running one stops itself once its ctx has ended.
func (r *runner) halt() {
	r.qmu.Lock()
	r.halted = true
	parked := !r.active
	r.qmu.Unlock()
	if parked && r.c != nil {
		r.c.stop()
	}
}

// signal wakes the coordinator's goroutine.
func (r *runner) signal() {
	select {
	case r.wake <- struct{}{}:
	default: // the coordinator has been woken and not yet taken the queue
	}
}

// handOver moves the jobs a stopped runner had not started to its
// successor in a reload, ahead of the jobs offered to the successor since;
// without an enabled successor each is traced and counted as dropped.
func handOver(old, next *runner) {
	old.qmu.Lock()
	old.closed = true
	jobs := append(old.left, old.queue...)
	old.left, old.queue = nil, nil
	old.qmu.Unlock()
	if len(jobs) == 0 {
		return
	}
	if next == nil || !next.rule.Enabled {
		for _, j := range jobs {
			old.drop(j, "rule removed by reload")
		}
		return
	}
	events := countEvents(jobs)
	next.qmu.Lock()
	next.queue = append(jobs, next.queue...)
	next.waiting.Add(int64(events))
	next.qmu.Unlock()
	next.poke()
}

// take swaps the offered jobs for spare, an emptied earlier batch, so the
// two arrays are reused.
func (r *runner) take(spare []job) []job {
	r.qmu.Lock()
	defer r.qmu.Unlock()
	jobs := r.queue
	r.queue = spare[:0]
	return jobs
}

type worker struct {
	r    *runner
	jobs chan job
	inst Instance   // touched only by the worker's goroutine
	inv  Invocation // reused by every run of inst; the worker's goroutine only
	run  *runCtx    // the run in progress; coordinator only
	key  string     // the key of the run in progress; coordinator only

	// deadline ends the run in progress (current) at its timeout; one
	// timer per worker, re-armed for each run, instead of one per run.
	deadline *time.Timer
	current  atomic.Pointer[runCtx]
	cancel   context.CancelCauseFunc // Invocation.Cancel: ends current

	// pinned: one of a parallel rule's pool, built at start-up and never
	// retired. prev, next, listed (its place among the idle workers, an
	// intrusive list: no allocation per run) and retired belong to the
	// engine's states, under its lock.
	pinned          bool
	prev, next      *worker
	listed, retired bool
}

// retire hands w, retired by the state cache, to its coordinator.
func (r *runner) retire(w *worker) {
	r.qmu.Lock()
	r.retiring = append(r.retiring, w)
	r.qmu.Unlock()
	r.poke()
}

// takeRetiring returns the workers retired since the last call.
func (r *runner) takeRetiring() []*worker {
	r.qmu.Lock()
	defer r.qmu.Unlock()
	ws := r.retiring
	r.retiring = nil
	return ws
}

// expire is the deadline timer's function. A firing left over from an
// earlier run finds a run whose deadline has not come yet and does nothing.
func (w *worker) expire() {
	if c := w.current.Load(); c != nil {
		c.expireIfDue(time.Now())
	}
}

// loop is the coordinator's goroutine. It parks (returns) when no run is
// in progress or waiting, no state is kept and nothing was offered; it
// stops when the runner's ctx ends and every run in progress has finished
// (or hit its deadline).
func (r *runner) loop() {
	defer r.set.done.Done()
	ctx, c := r.ctx, r.c
	c.warm()
	stopping := false
	wake := r.wake
	var spare []job // the emptied batch take hands back to the queue
	for {
		if stopping && len(c.busy) == 0 {
			c.stop()
			return
		}
		// A rule that keeps a state keeps its goroutine too (a hot rule
		// does not start one per event); one whose states were released
		// holds neither.
		if !stopping && len(c.busy) == 0 && c.pending.len() == 0 && len(c.idle) == 0 && r.park() {
			return
		}
		var recheck <-chan time.Time
		if !stopping && c.heldBack() {
			recheck = c.recheckAfter()
		}
		select {
		case <-recheck:
			c.rechecking = false
			c.dispatch()
		case <-ctx.Done():
			if !stopping {
				stopping = true
				ctx = context.Background() // keep waiting for busy workers
				wake = nil                 // what is queued stays for a successor
			}
		case w := <-c.freed:
			c.release(w)
			if !stopping {
				c.dispatch()
			}
		case <-wake:
			c.closeIdle(r.takeRetiring())
			jobs := r.take(spare)
			for _, j := range jobs {
				c.accept(j)
			}
			clear(jobs)
			spare = keepSmall(jobs)
		}
	}
}

// coordinator is the state of one runner's loop: its workers and the runs
// waiting for one. Only the loop's goroutine touches it.
type coordinator struct {
	r *runner
	// perKey is how many runs of one key may run at once (all runs share
	// the key "" unless the rule has a Key); active counts them.
	perKey int
	// cpuCap is how many runs of any key may run at once while the CPUs
	// are the bottleneck (Engine.cpu); 0: no cap.
	cpuCap  int
	active  map[string]int
	idle    []*worker
	busy    map[*worker]bool
	pending jobQueue // queued runs and handler runs, oldest first
	all     []*worker
	freed   chan *worker
	// lastAccepted is when the throttle last let an event of each key
	// through.
	lastAccepted map[string]time.Time
	// warmed: a parallel rule's pool is built; stopped: the workers are
	// closed.
	warmed, stopped bool
	// recheck fires cpuRecheck after jobs were held back by the cap
	// (heldBack), for dispatch to ask Bound again; rechecking: armed.
	recheck    *time.Timer
	rechecking bool
	// capped: the last dispatch left a job that could have started but
	// for the CPU cap.
	capped bool
}

// cpuRecheck is how often a rule holding jobs back at its CPU cap asks
// CPULimit.Bound again when no run finishes meanwhile (the host's watch
// changes at most every 50 ms).
const cpuRecheck = 50 * time.Millisecond

// recheckAfter arms the recheck timer unless it is armed, and returns
// its channel.
func (c *coordinator) recheckAfter() <-chan time.Time {
	if c.recheck == nil {
		c.recheck = time.NewTimer(cpuRecheck)
	} else if !c.rechecking {
		c.recheck.Reset(cpuRecheck)
	}
	c.rechecking = true
	return c.recheck.C
}

func newCoordinator(r *runner) *coordinator {
	perKey := 1
	if r.rule.Mode == ModeParallel {
		perKey = max(r.rule.Max, 1)
	}
	c := &coordinator{r: r, perKey: perKey, active: map[string]int{}, lastAccepted: map[string]time.Time{},
		busy: map[*worker]bool{}, freed: make(chan *worker)}
	if l := r.e.cpu; r.rule.Mode == ModeParallel && l.Bound != nil && l.Runs > 0 && (r.rule.Key != nil || l.Runs < perKey) {
		c.cpuCap = l.Runs
	}
	return c
}

// room reports whether one more run may start, whatever its key: always,
// unless the rule is capped, at its cap, and the CPUs are the bottleneck.
func (c *coordinator) room() bool {
	return c.cpuCap == 0 || len(c.busy) < c.cpuCap || !c.r.e.cpu.Bound()
}

// warm starts a parallel rule's pool: max workers, each building its
// instance at once, so that no run of the rule waits for a Lua state to be
// built once the engine has started; they are never retired.
func (c *coordinator) warm() {
	if c.warmed || c.r.rule.Mode != ModeParallel || !c.r.rule.Enabled {
		return
	}
	c.warmed = true
	for range c.perKey {
		c.idle = append(c.idle, c.newWorker(true))
	}
}

// newWorker starts a worker; the state cache may retire idle workers
// (of any rule) to make room for it.
func (c *coordinator) newWorker(pinned bool) *worker {
	w := &worker{r: c.r, jobs: make(chan job), pinned: pinned}
	w.cancel = func(cause error) {
		if run := w.current.Load(); run != nil {
			run.cancel(context.Canceled, cause)
		}
	}
	c.all = append(c.all, w)
	retire(c.r.e.states.added())
	go c.r.work(w, c.freed)
	return w
}

// idleWorker takes the most recently used idle worker, closing those the
// state cache retired meanwhile; nil when none is left.
func (c *coordinator) idleWorker() *worker {
	for n := len(c.idle); n > 0; n = len(c.idle) {
		w := c.idle[n-1]
		c.idle = c.idle[:n-1]
		if c.r.e.states.take(w) {
			return w
		}
		c.close(w)
	}
	return nil
}

// closeIdle closes the retired workers that are still idle here (one
// taken for a run meanwhile was closed by idleWorker).
func (c *coordinator) closeIdle(ws []*worker) {
	for _, w := range ws {
		if i := slices.Index(c.idle, w); i >= 0 {
			c.idle = slices.Delete(c.idle, i, i+1)
			c.close(w)
		}
	}
}

// close ends an idle worker: its goroutine closes its instance and exits.
func (c *coordinator) close(w *worker) {
	close(w.jobs)
	if i := slices.Index(c.all, w); i >= 0 {
		c.all = slices.Delete(c.all, i, i+1)
	}
}

// start hands j to an idle worker, or to a new one.
func (c *coordinator) start(j job) {
	w := c.idleWorker()
	if w == nil {
		w = c.newWorker(false)
	}
	c.busy[w] = true
	c.active[j.key]++
	w.key = j.key
	if j.timer == nil {
		c.r.waiting.Add(-1)
	}
	j.ctx = newRunCtx()
	j.ctx.origin = Origin{Rule: c.r.rule.ID, Event: eventID(j.ev)}
	w.run = j.ctx
	w.jobs <- j
}

// dispatch starts pending jobs, oldest first, while the mode allows more
// runs of their key and the CPU cap more runs. A job the cap holds back
// starts when a run finishes, or when the loop asks Bound again
// (cpuRecheck) and the CPUs are free.
func (c *coordinator) dispatch() {
	c.capped = false
	if c.r.rule.Key == nil { // one key: the oldest waits for a worker
		for c.pending.len() > 0 && c.active[""] < c.perKey {
			if !c.room() {
				c.capped = true
				return
			}
			c.start(c.pending.pop())
		}
		return
	}
	// At the cap no job can start: stop at the first one that could, so a
	// long queue is not scanned on every finished run.
	c.pending.filterUntil(func(j job) (keep, more bool) {
		if c.active[j.key] >= c.perKey {
			return true, true
		}
		if !c.room() {
			c.capped = true
			return true, false
		}
		c.start(j)
		return false, true
	})
}

// heldBack reports whether pending jobs may be waiting for the CPU cap
// only: dispatch must look again once Bound turns false, even if no run
// finishes and no event comes.
func (c *coordinator) heldBack() bool {
	return c.capped && c.pending.len() > 0 && len(c.busy) >= c.cpuCap
}

// release takes back a worker whose run has finished.
func (c *coordinator) release(w *worker) {
	w.run.cancel(context.Canceled, context.Canceled)
	delete(c.busy, w)
	if c.active[w.key]--; c.active[w.key] <= 0 {
		delete(c.active, w.key)
	}
	c.idle = append(c.idle, w)
	retire(c.r.e.states.released(w))
}

// stop ends the idle workers and leaves the pending jobs for a successor
// (handOver); it is called once no worker is busy, and again by a halt
// after the goroutine stopped it (then it does nothing).
func (c *coordinator) stop() {
	if c.stopped {
		return
	}
	c.stopped = true
	for _, w := range c.all {
		close(w.jobs)
		c.r.e.states.closed(w)
	}
	c.r.qmu.Lock()
	c.r.left = append(c.r.left, c.pending.all()...)
	c.r.qmu.Unlock()
}

// accept applies the breaker, the throttle and the rule's mode to a new job.
func (c *coordinator) accept(j job) {
	if key := c.r.rule.Key; key != nil && j.timer == nil {
		k, err := key(j.ev, j.trigger)
		if err != nil {
			c.r.fail(j, fmt.Errorf("key: %w", err))
			return
		}
		j.key = k
	}
	if why := c.admit(j); why != "" {
		c.r.skip(j, why)
		return
	}
	if c.enqueue(j) {
		c.dispatch()
	}
}

// admit returns why j is refused by the runaway breaker or the throttle,
// or "" when it may run.
func (c *coordinator) admit(j job) string {
	if why := c.r.breaker.admit(j); why != "" {
		return why
	}
	rule := c.r.rule
	if j.timer == nil && rule.Throttle > 0 {
		now := c.r.e.clock.Now()
		last, seen := c.lastAccepted[j.key]
		if seen && now.Sub(last) < rule.Throttle {
			return fmt.Sprintf("throttled (at most one run per %s)", rule.Throttle) + keyNote(rule, j.key)
		}
		c.lastAccepted[j.key] = now
	}
	return ""
}

// enqueue applies the rule's mode to an admitted job: it queues j, or
// skips it and reports false.
func (c *coordinator) enqueue(j job) bool {
	rule := c.r.rule
	switch {
	case j.timer != nil:
	case rule.Mode == ModeSingle || rule.Mode == "": // single is the default
		if c.active[j.key] > 0 || c.waitingOf(j.key, false) > 0 {
			c.r.skip(j, "already running (mode single)"+keyNote(rule, j.key))
			return false
		}
	case rule.Mode == ModeRestart:
		c.restart(j.key)
	case rule.Mode == ModeQueued:
		if c.waitingOf(j.key, true) >= max(rule.Max, 1) {
			c.r.skip(j, fmt.Sprintf("queue full (max %d)", rule.Max)+keyNote(rule, j.key))
			return false
		}
	case rule.Mode == ModeParallel: // waits for one of the max workers
	}
	c.pending.push(j)
	return true
}

// restart cancels the runs of key in progress and skips its events
// waiting, for mode restart; durable timers' handler runs stay queued.
func (c *coordinator) restart(key string) {
	for w := range c.busy {
		if w.key == key {
			w.run.cancel(context.Canceled, errRestarted)
		}
	}
	c.pending.filter(func(p job) bool {
		if p.timer != nil || p.key != key {
			return true
		}
		c.r.skip(p, "replaced by a newer event (mode restart)"+keyNote(c.r.rule, key))
		return false
	})
}

// waitingOf counts the pending jobs of key: events only, or handler runs
// too.
func (c *coordinator) waitingOf(key string, eventsOnly bool) int {
	n := 0
	for _, j := range c.pending.all() {
		if j.key == key && (j.timer == nil || !eventsOnly) {
			n++
		}
	}
	return n
}

// keyNote names the key in a skip reason of a rule with a key.
func keyNote(r *Rule, key string) string {
	if r.Key == nil {
		return ""
	}
	return fmt.Sprintf(" for key %q", key)
}

// countEvents counts the jobs that are events (not handler runs).
func countEvents(jobs []job) int {
	n := 0
	for _, j := range jobs {
		if j.timer == nil {
			n++
		}
	}
	return n
}

// work owns one instance; it is created on this goroutine (at once for a
// pinned worker, else by its first run) and closed here.
func (r *runner) work(w *worker, freed chan<- *worker) {
	defer func() {
		if w.inst != nil {
			w.inst.Close()
		}
	}()
	if w.pinned {
		_ = r.build(w) // a failure is reported by the first run, which tries again
	}
	for j := range w.jobs {
		tr := r.execute(w, j)
		// The trace is shown once the coordinator has the worker back: an
		// event sent after it is seen finds the rule free (mode single).
		// The set's halt waits for it (the coordinator, alive until it
		// takes w, keeps the count above zero meanwhile).
		r.set.done.Add(1)
		freed <- w
		r.account(tr, j.ev)
		r.set.done.Done()
	}
	if w.deadline != nil {
		w.deadline.Stop()
	}
}

// build makes the worker's instance, on the worker's goroutine.
func (r *runner) build(w *worker) error {
	inst, err := r.rule.NewInstance()
	if err != nil {
		return err
	}
	w.inst = inst
	r.e.states.built.Add(1)
	return nil
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

// execute runs j on w and stores the run; it returns the run's trace for
// account.
func (r *runner) execute(w *worker, j job) Trace {
	e := r.e
	started := e.clock.Now()
	wallStart := time.Now()
	tr := r.newTrace(j, started)
	tr.Late = j.late
	if j.timer == nil && j.trigger < len(r.rule.Triggers) {
		tr.Trigger = r.rule.Triggers[j.trigger].ID
	}
	if j.late {
		tr.Reason = "ran late: fell due while the engine was down"
	}
	if j.replayed {
		tr.Reason = "replayed after restart"
	}

	res, runErr, cause := r.invoke(w, j)
	tr.DurationMS = float64(time.Since(wallStart).Microseconds()) / 1000
	// The run's own actions (Result.Actions), not a copy; empty, not nil,
	// in the trace.
	tr.Actions = res.Actions
	if tr.Actions == nil {
		tr.Actions = []Action{}
	}
	stampActions(tr.Actions, tr.Rule, tr.EventID)
	r.breaker.observe(tr.Actions, started)
	tr.Log = append(make([]string, 0, len(res.Log)), res.Log...)

	ok := r.outcome(&tr, res, runErr, cause)
	c := Commit{Rule: r.rule.ID}
	if j.timer != nil {
		c.DeleteTimers = append(c.DeleteTimers, j.timer.ID)
	}
	var scheduled []TimerRecord
	var emitted []*admission
	if ok {
		scheduled, emitted = r.changes(&c, j, res, started)
	}
	last := lastJob(j.acc)
	if last {
		c.Complete = j.acc.id
	}
	ok, inStore := r.commit(c, &tr, ok)
	if ok {
		if res.State != nil {
			r.mu.Lock()
			r.state = res.State
			r.mu.Unlock()
		}
		e.global.apply(res.GlobalSet, res.GlobalDelete)
	}
	for _, a := range emitted {
		if ok {
			e.dispatch(e.notified(a))
		} else if a.acc != nil {
			e.untrack(a.acc)
		}
	}
	e.timers.applied(c.DeleteTimers, scheduled)
	if last {
		e.completed(j.acc, inStore)
	} else {
		e.finish(j.acc)
	}
	return tr
}

// outcome sets the trace's outcome from how the run ended; it reports
// whether the run's changes are to be kept.
func (r *runner) outcome(tr *Trace, res Result, runErr, cause error) bool {
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
		return true
	case res.DryRun:
		tr.Outcome = OutcomeDryRun
		return true
	case res.Shadow:
		tr.Outcome = OutcomeShadow
		return true
	default:
		tr.Outcome = OutcomeOK
		return true
	}
	return false
}

// changes adds a successful run's state, global keys, timers and emitted
// events to c; it returns the timers to arm and the events to dispatch
// once c is committed.
func (r *runner) changes(c *Commit, j job, res Result, started time.Time) ([]TimerRecord, []*admission) {
	c.RuleState = res.State
	c.GlobalSet, c.GlobalDelete = res.GlobalSet, res.GlobalDelete
	var scheduled []TimerRecord
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
	depth := 0
	if j.ev != nil {
		depth = j.ev.Cause.Depth
	}
	if len(res.Changes) > 0 { // most runs change no device: no clock read
		scheduled = append(scheduled, r.reverts(c, res.Changes, r.e.clock.Now())...)
	}
	emitted, accept := r.e.emitted(r.rule.ID, depth, res.Emitted)
	c.Accept = accept
	return scheduled, emitted
}

// account counts and logs a finished run and shows it to OnRun.
func (r *runner) account(tr Trace, ev *Event) {
	e := r.e
	r.runs.Add(1)
	if tr.Outcome == OutcomeFailed || tr.Outcome == OutcomeTimeout {
		r.failures.Add(1)
	}
	r.mu.Lock()
	r.lastRun = tr.Started
	r.mu.Unlock()
	e.metrics.observeRun(tr, ev)
	lvl := slog.LevelDebug
	if tr.Outcome == OutcomeFailed || tr.Outcome == OutcomeTimeout {
		lvl = slog.LevelWarn
	}
	// Ask first: building the attributes allocates even when the level is
	// off, and debug is off on every run in production.
	if e.log.Enabled(context.Background(), lvl) {
		e.log.Log(context.Background(), lvl, "rule run", "rule", r.rule.ID, "event", tr.EventID,
			"handler", tr.Handler, "outcome", tr.Outcome, "err", tr.Error, "ms", tr.DurationMS)
	}
	e.notifyRun(tr)
}

// commit stores the run: in one transaction when it changed durable state,
// emitted events or called out, else as a recorded trace behind the hot
// path. It reports whether the run still counts as successful, and
// whether the store completed c.Complete's event with the commit.
func (r *runner) commit(c Commit, tr *Trace, ok bool) (stillOK, completed bool) {
	e := r.e
	// A run of an accepted event that called out commits its done mark at
	// once: behind the hot path, a crash could lose it and the replay
	// would call out again.
	calledOut := tr.EventID != "" && len(tr.Actions) > 0
	durable := c.RuleState != nil || len(c.GlobalSet) > 0 || len(c.GlobalDelete) > 0 ||
		len(c.PutTimers) > 0 || len(c.DeleteTimers) > 0 || len(c.Accept) > 0 || calledOut
	if !durable {
		e.store.RecordTrace(*tr)
		return ok, false
	}
	c.Trace = *tr
	if err := e.store.Commit(c); err != nil {
		e.log.Error("commit run", "rule", r.rule.ID, "err", err)
		tr.Outcome, tr.Error = OutcomeFailed, "commit: "+err.Error()
		e.store.RecordTrace(*tr)
		return false, false
	}
	return ok, c.Complete != ""
}

// invoke runs the job on the worker's instance under the rule's deadline. It
// returns the run's result, its error, and the context's cause when the
// deadline or a restart ended it.
func (r *runner) invoke(w *worker, j job) (Result, error, error) {
	if w.inst == nil {
		if err := r.build(w); err != nil {
			return Result{}, fmt.Errorf("load rule: %w", err), nil
		}
	}
	st, err := r.currentState()
	if err != nil {
		return Result{}, err, nil
	}
	ctx := j.ctx
	if !ctx.arm(r.rule.Timeout) {
		return Result{}, nil, ctx.cause() // restarted before it began
	}
	w.current.Store(ctx)
	if w.deadline == nil {
		w.deadline = time.AfterFunc(r.rule.Timeout, w.expire)
	} else {
		w.deadline.Reset(r.rule.Timeout)
	}
	defer func() {
		w.deadline.Stop()
		w.current.Store(nil)
		// The run's context ends with the run, as a timeout context's
		// stop would end it.
		ctx.cancel(context.Canceled, context.Canceled)
	}()

	w.inv = Invocation{
		Event:        j.ev,
		TriggerIndex: j.trigger,
		State:        st,
		Global:       r.e.global.snapshot(),
		Late:         j.late,
		Shadow:       r.e.shadow.of(r.rule),
		Cancel:       w.cancel,
	}
	if j.timer != nil {
		w.inv.Handler, w.inv.Args, w.inv.TimerID = j.timer.Handler, j.timer.Args, timerLocalID(j.timer.ID)
	}
	res := w.inst.Run(ctx, &w.inv)
	w.inv = Invocation{} // do not keep the event and state alive until the next run
	if ctx.Err() != nil {
		return res, res.Err, ctx.cause()
	}
	return res, res.Err, nil
}

// skip records a run that did not happen because of the rule's mode. Its
// trace is the job's done mark: a restart does not run it again.
func (r *runner) skip(j job, reason string) {
	if j.timer == nil {
		r.waiting.Add(-1)
	}
	r.skipped.Add(1)
	r.record(j, OutcomeSkipped, reason)
}

// fail records an event the rule could not take (its key failed): a
// failed run, counted as one, whose trace is the job's done mark.
func (r *runner) fail(j job, err error) {
	r.waiting.Add(-1)
	r.runs.Add(1)
	r.failures.Add(1)
	r.record(j, OutcomeFailed, err.Error())
}

// drop records a job that cannot run because its rule is gone.
func (r *runner) drop(j job, reason string) {
	r.dropped.Add(1)
	r.e.metrics.drops.Add(1)
	r.record(j, OutcomeSkipped, reason)
}

// record traces a job that did not run: skipped (why) or failed (the
// error).
func (r *runner) record(j job, outcome, why string) {
	e := r.e
	tr := r.newTrace(j, e.clock.Now())
	tr.Outcome, tr.Actions, tr.Log = outcome, []Action{}, []string{}
	if outcome == OutcomeFailed {
		tr.Error = why
		e.metrics.observeRun(tr, j.ev)
	} else {
		tr.Reason = why
		e.metrics.observeSkip(r.rule.ID)
	}
	e.store.RecordTrace(tr)
	e.finish(j.acc)
	e.notifyRun(tr)
}

// newTrace starts the trace of j's run (or of its skip) at at.
func (r *runner) newTrace(j job, at time.Time) Trace {
	tr := Trace{ID: r.e.ids.Next(at), Rule: r.rule.ID, EventID: eventID(j.ev), Started: at}
	if j.timer != nil {
		tr.Handler = j.timer.Handler
	}
	return tr
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

// jobQueue is a FIFO of jobs that reuses its array: popping from the
// front of a slice would leave the array behind and make every push
// reallocate under a steady queue.
type jobQueue struct {
	items []job
	head  int
}

func (q *jobQueue) len() int { return len(q.items) - q.head }

// all returns the waiting jobs, oldest first.
func (q *jobQueue) all() []job { return q.items[q.head:] }

func (q *jobQueue) push(j job) {
	if q.head > 0 && len(q.items) == cap(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items, q.head = q.items[:n], 0
	}
	q.items = append(q.items, j)
}

func (q *jobQueue) pop() job {
	j := q.items[q.head]
	q.items[q.head] = job{}
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = keepSmall(q.items), 0
	}
	return j
}

// keptJobs is the largest job array an empty queue keeps for reuse: a
// burst's array (a queued rule with a large max, a backlog of thousands)
// is released once it has drained, so a rule's queue keeps at most about
// 25 KB after a burst.
const keptJobs = 256

// keepSmall empties jobs, keeping its array unless it is larger than
// keptJobs.
func keepSmall(jobs []job) []job {
	if cap(jobs) > keptJobs {
		return nil
	}
	return jobs[:0]
}

// filterUntil is filter that stops at the first job for which f reports
// more false (that job and those after it stay); it moves only the jobs
// it scanned, so it costs what it scanned, not the queue's length.
func (q *jobQueue) filterUntil(f func(job) (keep, more bool)) {
	items := q.all()
	i, n := 0, 0
	for i < len(items) {
		keep, more := f(items[i])
		if keep {
			items[n] = items[i]
			n++
		}
		i++
		if !more {
			break
		}
	}
	removed := i - n
	if removed == 0 {
		return
	}
	copy(items[removed:i], items[:n]) // the kept ones next to the unscanned tail
	clear(items[:removed])
	q.head += removed
	if q.len() == 0 {
		q.items, q.head = keepSmall(q.items), 0
	}
}

// filter keeps the jobs for which keep reports true, in order.
func (q *jobQueue) filter(keep func(job) bool) {
	items := q.all()
	n := 0
	for _, j := range items {
		if keep(j) {
			items[n] = j
			n++
		}
	}
	clear(items[n:])
	q.items = q.items[:q.head+n]
	if n == 0 {
		q.items, q.head = keepSmall(q.items), 0
	}
}

// runCtx is the context of one run. It replaces a cancel context made by
// the coordinator with a timeout context below it: their children map, two
// done channels, timer and closures cost more allocations than the run of
// a small rule. It behaves the same: Err is context.DeadlineExceeded once
// the deadline passed and context.Canceled once cancelled; cause says why
// (errRestarted, context.DeadlineExceeded, ...); Deadline reports the
// deadline once armed; AfterFunc lets contexts derived from it (an HTTP
// request of a bound function) follow it without a goroutine each. The
// worker's timer enforces the deadline (worker.expire).
type runCtx struct {
	done chan struct{} // made with the context: Lua polls Done every instruction

	mu       sync.Mutex
	err, why error
	deadline time.Time
	after    []afterFunc
	afterSeq uint64
	// afterBuf holds the first AfterFunc (a context derived from the
	// run's, such as an Alexa request's) without an allocation.
	afterBuf [1]afterFunc

	origin Origin // set before the run starts, read-only after
}

// afterFunc is one function AfterFunc will call, by its id for stop.
type afterFunc struct {
	id uint64
	f  func()
}

func newRunCtx() *runCtx {
	c := &runCtx{done: make(chan struct{})}
	c.after = c.afterBuf[:0]
	return c
}

// arm sets the run's deadline, d from now; it reports false when the
// context has already ended.
func (c *runCtx) arm(d time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return false
	}
	c.deadline = time.Now().Add(d)
	return true
}

// expireIfDue ends the context with context.DeadlineExceeded when its
// deadline has come by now.
func (c *runCtx) expireIfDue(now time.Time) {
	c.mu.Lock()
	due := !c.deadline.IsZero() && !now.Before(c.deadline)
	c.mu.Unlock()
	if due {
		c.cancel(context.DeadlineExceeded, context.DeadlineExceeded)
	}
}

// cancel ends the context with err (what Err returns) and cause; the first
// call wins.
func (c *runCtx) cancel(err, cause error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err, c.why = err, cause
	after := c.after
	c.after = nil
	close(c.done)
	c.mu.Unlock()
	for _, a := range after {
		go a.f()
	}
}

// cause returns why the context ended, nil while it has not.
func (c *runCtx) cause() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.why
}

func (c *runCtx) Deadline() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.deadline, !c.deadline.IsZero()
}

func (c *runCtx) Done() <-chan struct{} { return c.done }

func (c *runCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Value carries the run's Origin (origin.go) and nothing else.
func (c *runCtx) Value(key any) any { return c.origin.value(key) }

// AfterFunc calls f in its own goroutine once the context ends (at once if
// it has); stop reports whether it kept f from being called. The context
// package uses it for contexts derived from this one.
func (c *runCtx) AfterFunc(f func()) (stop func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		go f()
		return func() bool { return false }
	}
	c.afterSeq++
	id := c.afterSeq
	c.after = append(c.after, afterFunc{id: id, f: f})
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		i := slices.IndexFunc(c.after, func(a afterFunc) bool { return a.id == id })
		if i < 0 {
			return false
		}
		c.after = slices.Delete(c.after, i, 1+i)
		return true
	}
}
