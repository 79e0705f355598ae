package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/admin"
	"github.com/alexarules/alexarules/engine/schedule"
	"github.com/alexarules/alexarules/engine/store"
	"github.com/alexarules/alexarules/rules"
)

// hostOptions is what an engine host needs, from flags and config.
type hostOptions struct {
	RulesDirs []string
	DataFile  string
	AdminAddr string // "off" disables the admin API
	Location  *time.Location
	Place     *schedule.Place
	DryRun    bool
	Log       *slog.Logger
	Clock     engine.Clock
	// Alexa connects to an Alexa account (nil: none); it gets the open
	// store (tokens, snapshots) and the engine's clock and publish.
	Alexa   func(alexaSetup) (*alexaRuntime, error)
	OnEvent func(engine.Event)
	OnRun   func(engine.Trace)
	// LoadErrors receives each rule file error; loading goes on.
	LoadErrors func(error)
	// AdminReady is told the admin API's address once it listens.
	AdminReady func(addr string)
	// Reload, when set, reloads the rules on every receive (SIGHUP).
	Reload <-chan struct{}
}

// host is a running engine with its store, scheduler and admin API.
type host struct {
	opts      hostOptions
	store     *store.Store
	engine    *engine.Engine
	scheduler *schedule.Scheduler
	ready     atomic.Bool
	// alexaGauges report the push connection and the poller.
	alexaGauges []func() []engine.Gauge
	rt          *alexaRuntime
	reloadMu    sync.Mutex
}

// serve loads the rules, opens the store and runs everything until ctx
// ends; then it lets runs finish, flushes the store and returns.
func serve(ctx context.Context, o hostOptions) error {
	if o.Clock == nil {
		o.Clock = engine.RealClock{}
	}
	st, err := store.Open(o.DataFile, store.Options{Logger: o.Log})
	if err != nil {
		return err
	}
	defer st.Close()
	h := &host{opts: o, store: st}
	h.engine = engine.New(engine.Config{Clock: o.Clock, Store: st, Log: o.Log, OnEvent: o.OnEvent, OnRun: o.OnRun})
	rt := &alexaRuntime{bind: newBinder(nil, nil, nil, o.Clock)}
	if o.Alexa != nil {
		if rt, err = o.Alexa(alexaSetup{store: st, clock: o.Clock, publish: h.engine.Publish}); err != nil {
			return err
		}
	}
	h.alexaGauges = rt.gauges
	h.rt = rt
	set, engineRules, entries, err := h.load()
	if err != nil {
		return err
	}
	for _, err := range set.Errors {
		o.Log.Error("rule file not loaded", "err", err)
		if o.LoadErrors != nil {
			o.LoadErrors(err)
		}
	}
	if rt.rulesLoaded != nil {
		if err := rt.rulesLoaded(set.Rules); err != nil {
			return err
		}
	}
	if err := h.engine.SetRules(engineRules); err != nil {
		return err
	}
	o.Log.Info("rules loaded", "rules", len(set.Rules), "errors", len(set.Errors), "schedules", len(entries))
	h.scheduler = schedule.New(o.Clock, h.fireSchedule, kvLastRuns{st}, o.Log)
	h.scheduler.Set(entries)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	parts := append([]func(context.Context) error{h.engine.Run, h.scheduler.Run}, rt.parts...)
	errc := make(chan error, len(parts)+1)
	for _, run := range parts {
		go func() { errc <- run(runCtx) }()
	}
	if o.AdminAddr != "" && o.AdminAddr != "off" {
		if err := h.serveAdmin(runCtx, errc); err != nil {
			cancel()
			for range parts {
				<-errc
			}
			return err
		}
	} else {
		errc <- nil
	}
	h.ready.Store(true)
	if o.Reload != nil {
		go h.reloadOn(runCtx, o.Reload)
	}
	var first error
	for range len(parts) + 1 {
		if err := <-errc; err != nil && first == nil {
			first = err
			cancel()
		}
	}
	return first
}

// load reads and validates every rule file, and turns the valid rules into
// the engine's rules and the scheduler's entries.
func (h *host) load() (*rules.Set, []*engine.Rule, []schedule.Entry, error) {
	o := h.opts
	set, err := rules.Load(rules.Options{Clock: o.Clock, Location: o.Location, Place: o.Place, Bind: h.rt.bind,
		Print: func(file, msg string) { o.Log.Info(msg, "file", file) }}, o.RulesDirs...)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("rules: %w", err)
	}
	var engineRules []*engine.Rule
	var entries []schedule.Entry
	for _, l := range set.Rules {
		engineRules = append(engineRules, l.Engine(o.Log, o.DryRun))
		if !l.Def.Enabled {
			continue
		}
		for i, t := range l.Def.Triggers {
			if t.Spec != nil {
				entries = append(entries, schedule.Entry{ID: scheduleID(l.Def.ID, i), Spec: t.Spec, Missed: t.Missed})
			}
		}
	}
	return set, engineRules, entries, nil
}

// reload loads the rule files again and swaps them in. When any file has
// an error, nothing changes: the running rules stay, and the errors are
// returned (as `check` would print them).
func (h *host) reload() (int, []error) {
	h.reloadMu.Lock()
	defer h.reloadMu.Unlock()
	set, engineRules, entries, err := h.load()
	if err != nil {
		return 0, []error{err}
	}
	if len(set.Errors) > 0 {
		h.opts.Log.Error("reload refused: the running rules stay", "errors", len(set.Errors))
		for _, err := range set.Errors {
			h.opts.Log.Error("rule file not loaded", "err", err)
		}
		return 0, set.Errors
	}
	if h.rt.rulesLoaded != nil {
		if err := h.rt.rulesLoaded(set.Rules); err != nil {
			return 0, []error{err}
		}
	}
	if err := h.engine.Reload(engineRules); err != nil {
		return 0, []error{err}
	}
	h.scheduler.Set(entries)
	h.opts.Log.Info("rules reloaded", "rules", len(set.Rules), "schedules", len(entries))
	return len(set.Rules), nil
}

func (h *host) reloadOn(ctx context.Context, signals <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-signals:
			h.reload()
		}
	}
}

// scheduleID names a rule's schedule trigger for the scheduler and its
// stored last run.
func scheduleID(rule string, trigger int) string { return rule + "#" + strconv.Itoa(trigger) }

func (h *host) fireSchedule(id string, at time.Time, late bool) {
	i := strings.LastIndexByte(id, '#')
	if i < 0 {
		return
	}
	trig, err := strconv.Atoi(id[i+1:])
	if err != nil {
		return
	}
	// The id is the tick's own: a tick fired again after a crash, before
	// the scheduler stored it, is the same event and is accepted once.
	h.engine.Publish(engine.Event{ID: "schedule:" + id + "@" + strconv.FormatInt(at.UnixNano(), 36),
		Kind: engine.KindSchedule, Target: id[:i], TriggerIndex: trig,
		Data: map[string]any{"scheduled": float64(at.UnixNano()) / 1e9, "late": late}})
}

// serveAdmin starts the admin API; it returns once it listens (or could
// not), and reports the server's end on errc.
func (h *host) serveAdmin(ctx context.Context, errc chan<- error) error {
	handler := (&admin.Server{Engine: h.engine, Store: h.store, Log: h.opts.Log, Ready: h.ready.Load,
		Gauges: h.gauges, Reload: h.reload}).Handler()
	listening := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serveHandler(ctx, h.opts.AdminAddr, handler, func(a string) { listening <- a }) }()
	select {
	case addr := <-listening:
		if h.opts.AdminReady != nil {
			h.opts.AdminReady(addr)
		}
		go func() { errc <- <-done }()
		return nil
	case err := <-done:
		return fmt.Errorf("admin API: %w", err)
	}
}

func (h *host) gauges() []engine.Gauge {
	var extra []engine.Gauge
	for _, g := range h.alexaGauges {
		extra = append(extra, g()...)
	}
	return append(extra, []engine.Gauge{
		{Name: "alexarules_store_dropped_total", Help: "Journal events and traces dropped because the store's queue was full.",
			Type: "counter", Value: float64(h.store.Dropped())},
		{Name: "alexarules_rules_loaded", Help: "Rules loaded.", Type: "gauge", Value: float64(len(h.engine.Rules()))},
	}...)
}

// kvLastRuns keeps the scheduler's last run times in the store.
type kvLastRuns struct{ st *store.Store }

const scheduleBucket = "schedule"

func (k kvLastRuns) LastRun(id string) (time.Time, bool) {
	b, err := k.st.Get(scheduleBucket, id)
	if err != nil || b == nil {
		return time.Time{}, false
	}
	var t time.Time
	if json.Unmarshal(b, &t) != nil {
		return time.Time{}, false
	}
	return t, true
}

func (k kvLastRuns) SetLastRun(id string, t time.Time) error {
	b, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return k.st.Put(scheduleBucket, id, b)
}
