package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxDepth is how deep a chain of rules triggering rules may go.
const DefaultMaxDepth = 8

// Config wires an Engine.
type Config struct {
	Clock    Clock
	Store    Store
	Log      *slog.Logger
	MaxDepth int // default DefaultMaxDepth
	// MaxBacklog is how many accepted events may wait for their runs
	// before Accept answers ErrOverloaded (default DefaultMaxBacklog).
	MaxBacklog int
	// OnEvent and OnRun, when set, see every published event and every
	// finished (or skipped) run, e.g. for the demo's live output. They must
	// not block.
	OnEvent func(Event)
	OnRun   func(Trace)
	// Breaker tunes the runaway breaker; the zero value has the defaults.
	Breaker BreakerConfig
	// MaxStates bounds the rule instances (Lua states) kept between runs,
	// all rules together (default DefaultMaxStates); the least recently
	// used idle ones are released beyond it and rebuilt when their rule
	// runs again. Parallel rules' pools count but are never released.
	MaxStates int
	// CPULimit caps a parallel rule's runs at once while the CPUs are the
	// bottleneck; the zero value caps nothing.
	CPULimit CPULimit
}

// CPULimit caps how many runs of one parallel rule run at once while the
// process has more work ready than CPUs to run it. Past that point more
// runs at once make none finish sooner: each adds a Lua state, a
// goroutine stack and an HTTP request to what the CPUs and the collector
// go through. The events wait in the rule's queue instead, in the
// backlog, which bounds them as before: admission is unchanged. Runs
// waiting on Amazon leave the CPUs idle, Bound turns false and the rule
// runs up to its max again. A parallel rule's pool stays warm to its max
// either way.
type CPULimit struct {
	// Runs is the cap; a rule without a key whose max is not above it is
	// never capped.
	Runs int
	// Bound reports whether the CPUs are the bottleneck now; it is asked
	// whenever a capped rule could start another run, and every 50 ms
	// while one holds events back, so it must be cheap.
	Bound func() bool
}

// Engine routes events to rules and runs them.
type Engine struct {
	clock    Clock
	store    Store
	log      *slog.Logger
	maxDepth int
	// maxBacklog bounds inflight for Accept.
	maxBacklog int
	inflight   inflight
	refusals   refusals // refused events not yet logged
	journaled  fifo     // events Publish journaled, waiting for dispatch
	gate       gate     // closed until Run has replayed the inbox
	onEvent    func(Event)
	onRun      func(Trace)

	ids     IDs
	metrics *Metrics
	// work counts jobs delivered to runners whose trace has not been
	// notified yet, and messages to the stateful triggers not yet
	// handled (Idle).
	work    atomic.Int64
	global  *globalState
	timers  *timerService
	levels  *levels
	breaker *breaker
	shadow  shadows
	states  *states
	cpu     CPULimit

	rules   atomic.Pointer[ruleSet]
	running atomic.Bool
	// runMu orders Reload with Run's start and end; runCtx is Run's.
	runMu  sync.Mutex
	runCtx context.Context
}

type ruleSet struct {
	list  []*runner
	byID  map[string]*runner
	index *index
	// stop ends this set's runners; done waits for them.
	stop context.CancelFunc
	done sync.WaitGroup
}

// New returns an engine; SetRules gives it rules and Run starts it.
func New(c Config) *Engine {
	if c.Clock == nil {
		c.Clock = RealClock{}
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.MaxDepth <= 0 {
		c.MaxDepth = DefaultMaxDepth
	}
	if c.MaxBacklog <= 0 {
		c.MaxBacklog = DefaultMaxBacklog
	}
	e := &Engine{clock: c.Clock, store: c.Store, log: c.Log, maxDepth: c.MaxDepth, maxBacklog: c.MaxBacklog,
		onEvent: c.OnEvent, onRun: c.OnRun, metrics: newMetrics(), cpu: c.CPULimit}
	e.inflight.ids = map[string]*accepted{}
	e.journaled.wake = make(chan struct{}, 1)
	e.global = &globalState{}
	e.timers = newTimerService(e)
	e.levels = newLevels(e)
	e.gate.opened = make(chan struct{})
	e.breaker = newBreaker(c.Breaker, c.Clock, c.Log)
	e.states = newStates(c.MaxStates)
	e.rules.Store(&ruleSet{byID: map[string]*runner{}, index: newIndex(nil)})
	e.metrics.backlog(e.Backlog)
	if c.CPULimit.Bound != nil && c.CPULimit.Runs > 0 {
		e.metrics.cpuLimit(c.CPULimit)
	}
	return e
}

// Clock returns the engine's clock.
func (e *Engine) Clock() Clock { return e.clock }

// Metrics returns the engine's counters.
func (e *Engine) Metrics() *Metrics { return e.metrics }

// SetRules installs the rule set. It must be called before Run; Reload
// replaces the rules of a running engine.
func (e *Engine) SetRules(rules []*Rule) error {
	if e.running.Load() {
		return errors.New("engine: rules are set before Run; use Reload")
	}
	rs, err := e.newRuleSet(rules)
	if err != nil {
		return err
	}
	e.rules.Store(rs)
	return nil
}

func (e *Engine) newRuleSet(rules []*Rule) (*ruleSet, error) {
	rs := &ruleSet{byID: map[string]*runner{}}
	for _, r := range rules {
		if _, dup := rs.byID[r.ID]; dup {
			return nil, fmt.Errorf("engine: duplicate rule id %q", r.ID)
		}
		if r.Mode != "" {
			if _, err := ParseMode(string(r.Mode)); err != nil {
				return nil, fmt.Errorf("engine: rule %q: %w", r.ID, err)
			}
		}
		rn := newRunner(e, r)
		rs.list = append(rs.list, rn)
		rs.byID[r.ID] = rn
	}
	rs.index = newIndex(rs.list)
	return rs, nil
}

// start runs the set's runners until ctx ends or the set is halted.
func (rs *ruleSet) start(ctx context.Context) {
	ctx, rs.stop = context.WithCancel(ctx)
	for _, r := range rs.list {
		r.start(ctx, rs)
	}
}

// halt stops the set's runners and waits until their runs in progress
// have finished.
func (rs *ruleSet) halt() {
	rs.stop()
	for _, r := range rs.list {
		r.halt()
	}
	rs.done.Wait()
}

// Reload replaces the rules of a running engine. Events published from now
// on wait in the new rules' inboxes while the old runners finish the runs
// in progress (so their state is committed before a new runner reads it);
// then the new runners start. State, timers and trigger states of rules
// that keep their id carry over: they live in the store. Jobs the old
// runners had queued but not started (events and timer handler runs) go
// to the new runner of the same id, ahead of newer events; those of a rule
// the reload removed or disabled are traced and counted as dropped.
func (e *Engine) Reload(rules []*Rule) error {
	rs, err := e.newRuleSet(rules)
	if err != nil {
		return err
	}
	e.runMu.Lock()
	defer e.runMu.Unlock()
	if e.runCtx == nil {
		for _, r := range e.rules.Swap(rs).list {
			handOver(r, rs.byID[r.rule.ID]) // events accepted before Run
		}
		return nil
	}
	old := e.rules.Swap(rs)
	old.halt()
	for _, r := range old.list {
		handOver(r, rs.byID[r.rule.ID])
	}
	rs.start(e.runCtx)
	e.levels.reload()
	return nil
}

// Run starts every rule, re-arms stored timers (running those that fell
// due while the engine was down), publishes the startup event and runs
// until ctx ends. It then lets runs in progress finish or reach their
// deadline and returns.
func (e *Engine) Run(ctx context.Context) error {
	if !e.running.CompareAndSwap(false, true) {
		return errors.New("engine: already running")
	}
	g, err := e.store.Global()
	if err != nil {
		return fmt.Errorf("engine: load global state: %w", err)
	}
	e.global.load(g)
	if err := e.shadow.load(e.store); err != nil {
		return fmt.Errorf("engine: load shadow toggles: %w", err)
	}
	e.runMu.Lock()
	e.runCtx = ctx
	e.rules.Load().start(ctx)
	e.runMu.Unlock()
	// The stateful triggers' goroutine runs before the replay, which may
	// hand it more events than its queue holds.
	levelsDone, journaledDone := make(chan struct{}), make(chan struct{})
	go func() { e.levels.run(ctx); close(levelsDone) }()
	go func() { e.runJournaled(ctx); close(journaledDone) }()
	if err := e.replay(); err != nil {
		return err
	}
	if err := e.timers.start(); err != nil {
		return fmt.Errorf("engine: load timers: %w", err)
	}
	e.Publish(Event{Kind: KindStartup})
	<-ctx.Done()
	e.timers.stop()
	<-levelsDone
	<-journaledDone
	e.runMu.Lock()
	e.rules.Load().halt()
	e.runMu.Unlock()
	return nil
}

func isLate(ev Event) bool {
	late, _ := ev.Data["late"].(bool)
	return late
}

func (e *Engine) notifyRun(t Trace) {
	defer e.work.Add(-1) // every delivered job ends in exactly one trace
	if e.onRun != nil {
		e.onRun(t)
	}
}

// RuleInfo is a rule as the admin API lists it.
type RuleInfo struct {
	ID      string `json:"id"`
	File    string `json:"file"`
	Enabled bool   `json:"enabled"`
	Mode    Mode   `json:"mode"`
	// Shadow: the rule's actions are recorded as would-be actions, not
	// sent (its `shadow` field or the toggle of Engine.SetShadow).
	Shadow   bool       `json:"shadow"`
	Triggers []string   `json:"triggers"`
	Runs     uint64     `json:"runs"`
	Failures uint64     `json:"failures"`
	Skipped  uint64     `json:"skipped"`
	Dropped  uint64     `json:"dropped"`
	LastRun  *time.Time `json:"last_run"`
	// Breaker says "tripped until ...: why" while the runaway breaker
	// skips the rule's triggers; BreakerTrips counts its trips.
	Breaker      string `json:"breaker,omitempty"`
	BreakerTrips uint64 `json:"breaker_trips,omitempty"`
}

// Rules describes every loaded rule, sorted by id.
func (e *Engine) Rules() []RuleInfo {
	rs := e.rules.Load()
	out := make([]RuleInfo, 0, len(rs.list))
	for _, r := range rs.list {
		info := RuleInfo{ID: r.rule.ID, File: r.rule.File, Enabled: r.rule.Enabled, Mode: r.rule.Mode,
			Shadow:   e.shadow.of(r.rule),
			Triggers: make([]string, 0, len(r.rule.Triggers)),
			Runs:     r.runs.Load(), Failures: r.failures.Load(), Skipped: r.skipped.Load(), Dropped: r.dropped.Load()}
		for _, t := range r.rule.Triggers {
			info.Triggers = append(info.Triggers, t.Spec)
		}
		r.mu.Lock()
		if !r.lastRun.IsZero() {
			t := r.lastRun
			info.LastRun = &t
		}
		r.mu.Unlock()
		info.Breaker, info.BreakerTrips = r.breaker.status()
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// globalState is the in-memory copy of ctx.global; runs see a snapshot and
// successful runs apply their changed keys. The map is never changed in
// place: apply swaps in a new one, so a snapshot is the current map itself,
// not a copy made for every run.
type globalState struct {
	mu   sync.RWMutex
	keys map[string]json.RawMessage // read-only once stored
}

func (g *globalState) load(m map[string]json.RawMessage) {
	g.mu.Lock()
	g.keys = m
	g.mu.Unlock()
}

// snapshot returns the current keys; callers must not change the map.
func (g *globalState) snapshot() map[string]json.RawMessage {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.keys
}

func (g *globalState) apply(set map[string]json.RawMessage, del []string) {
	if len(set) == 0 && len(del) == 0 {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	next := make(map[string]json.RawMessage, len(g.keys)+len(set))
	maps.Copy(next, g.keys)
	maps.Copy(next, set)
	for _, k := range del {
		delete(next, k)
	}
	g.keys = next
}

// NewID returns a fresh event or run id for time t.
func (e *Engine) NewID(t time.Time) string { return e.ids.Next(t) }

// SyncTriggers waits until every event published before it has been
// journaled, dispatched and has passed the state machines of stateful
// triggers (holds, re-arming), so that a test can move a virtual clock
// knowing every hold is armed. Events published while Run replays the
// inbox count too: it first waits for the replay to hand them over.
func (e *Engine) SyncTriggers(ctx context.Context) error {
	select {
	case <-e.gate.opened:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-e.journaled.waitAll():
	case <-ctx.Done():
		return ctx.Err()
	}
	done := make(chan struct{})
	select {
	case e.levels.inbox <- levelMsg{synced: done}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
