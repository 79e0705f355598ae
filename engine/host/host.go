// Package host runs the engine as an application: it opens the store,
// connects the Alexa account, loads the rules, serves the admin API,
// reloads on request and shuts everything down in order. The alexarules
// command only parses flags and calls Run; tests start hosts in-process.
package host

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/admin"
	"github.com/alexarules/alexarules/engine/schedule"
	"github.com/alexarules/alexarules/engine/store"
	"github.com/alexarules/alexarules/rules"
	"github.com/alexarules/alexarules/scripting"
)

// Options are what a host needs besides its configuration.
type Options struct {
	// Config is the configuration file with the flags applied over it;
	// Rules is required, Data and Admin default (WithDefaults).
	Config Config
	// Getenv reads ALEXARULES_* credentials (nil: none), and GOMAXPROCS.
	Getenv func(string) string
	// TuneProcs lets the host tune GOMAXPROCS to the load (the "procs"
	// block, procs.go): `alexarules run` sets it; engines that share a
	// process with others (tests, rule tests) leave it off.
	TuneProcs bool
	Log       *slog.Logger
	// Clock defaults to the real clock.
	Clock   engine.Clock
	OnEvent func(engine.Event)
	OnRun   func(engine.Trace)
	// LoadErrors receives each rule file error at start-up; loading goes on.
	LoadErrors func(error)
	// AdminReady is told the admin API's address once it listens.
	AdminReady func(addr string)
	// Reload, when set, reloads the rules on every receive (SIGHUP).
	Reload <-chan struct{}
	// Watch reloads the rules when their files change (`run --watch`),
	// once they have been quiet for WatchDebounce (default
	// DefaultWatchDebounce).
	Watch         bool
	WatchDebounce time.Duration
	// RulePaths, when set, are the rule files (or directories) loaded
	// instead of the Rules directory: a rule test loads the files beside
	// it, not those of subdirectories.
	RulePaths []string
	// Started, when set, is handed the engine once every part runs (a
	// rule test publishes its events and reads rule state through it).
	Started func(*engine.Engine)
	// DownResync is how often notifications and lists are fetched again
	// while the push connection is down (0: the bridge's default, 15 s).
	// A rule test, whose push never goes down, sets it long so that its
	// virtual clock does not stop every 15 s.
	DownResync time.Duration
}

// host is a running engine with its store, scheduler and admin API.
type host struct {
	opts      Options
	cfg       Config
	store     *store.Store
	engine    *engine.Engine
	scheduler *schedule.Scheduler
	ready     atomic.Bool
	rt        *alexaRuntime
	loads     loadReports
	reloadMu  sync.Mutex
	// guard stops rule runs that go over the heap budget; one for the
	// process, shared by every load and reload.
	guard *scripting.HeapGuard
	// cpu caps parallel rules' runs while the CPUs are the bottleneck
	// (procs.go); the zero value when the procs tuner is off.
	cpu engine.CPULimit
	// current is the rule set running now (for GET /api/rules/{id}/next).
	current atomic.Pointer[rules.Set]
	// feed streams events and runs to GET /api/events/stream and the
	// dashboard's GET /api/stream.
	feed admin.Feed
	// publish hands the sources' events (schedules, push, poller) on: to
	// the engine, or to the cluster's stream.
	publish func(engine.Event)
	// rules are the loaded engine rules (cluster mode splits them among
	// the partitions' engines).
	rules []*engine.Rule
	// cl is set in cluster mode.
	cl *clusterHost
}

// Run loads the rules, opens the store and runs everything until ctx
// ends. It then stops in order: the admin API (requests in flight finish)
// and the other sources of events, then the engine (runs in progress
// finish or reach their deadline), then the store. Errors that a change
// of flags or configuration fixes are *ConfigError; the others are
// runtime failures (the data file in use, the admin address taken, ...).
func Run(ctx context.Context, o Options) error {
	cfg, err := o.config()
	if err != nil {
		return err
	}
	// A rules path that is not there is the configuration's error, told
	// before any port is taken or Amazon is called.
	if _, err := rules.Files(rulePaths(o, cfg)...); err != nil {
		return &ConfigError{fmt.Errorf("rules: %w", err)}
	}
	if o.Clock == nil {
		o.Clock = engine.RealClock{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	defer startGCTuner(cfg.GC)()
	var cpu engine.CPULimit
	if o.TuneProcs {
		var stop func()
		cpu, stop = startProcsTuner(cfg.Procs, o.Getenv)
		defer stop()
	}
	var ln net.Listener
	if cfg.Admin != "off" {
		if ln, err = net.Listen("tcp", cfg.Admin); err != nil {
			return fmt.Errorf("admin API: %w", err)
		}
		defer ln.Close() // in case serving never starts
	}
	so, err := cfg.Store.Options()
	if err != nil {
		return err
	}
	so.Logger = o.Log
	st, err := store.Open(cfg.Data, so)
	if err != nil {
		return err
	}
	defer st.Close()
	h := &host{opts: o, cfg: cfg, store: st, cpu: cpu, guard: scripting.NewHeapGuard(scripting.DefaultLimits())}
	if cfg.Cluster != "" {
		return h.runCluster(ctx, ln)
	}
	h.engine = h.newEngine(st)
	h.publish = h.engine.Publish
	if h.rt, err = startAlexa(ctx, cfg, o.Getenv, alexaSetup{store: st, shared: st, clock: o.Clock, publish: h.publish,
		observe: h.engine.Metrics().ObserveAPICall, downResync: o.DownResync}, o.Log); err != nil {
		return err
	}
	h.rt.room = h.engine.WaitRoom // before the parts run: push and polling slow down at capacity
	if err := h.start(); err != nil {
		return err
	}
	return h.run(ctx, ln, h.engine.Run, h.rt.parts)
}

// newEngine returns an engine on st configured as the host's.
func (h *host) newEngine(st engine.Store) *engine.Engine {
	breaker, _ := h.cfg.Breaker.Engine() // checked by Validate
	return engine.New(engine.Config{Clock: h.opts.Clock, Store: st, Log: h.opts.Log, OnEvent: h.onEvent, OnRun: h.onRun,
		Breaker: breaker, MaxBacklog: h.cfg.MaxBacklog, MaxStates: h.cfg.States.Max, CPULimit: h.cpu})
}

// config checks the configuration and fills in its defaults.
func (o Options) config() (Config, error) {
	cfg := o.Config.WithDefaults()
	if cfg.Rules == "" {
		return cfg, configErrorf("--rules DIR is required (or \"rules\" in the config file)")
	}
	if err := cfg.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// start loads the rules for the first time: a broken file is reported
// and skipped, the others run.
func (h *host) start() error {
	o := h.opts
	set, engineRules, entries, err := h.load()
	if err != nil {
		return &ConfigError{err}
	}
	h.loads.started(set.Errors)
	for _, err := range set.Errors {
		o.Log.Error("rule file not loaded", "err", err)
		if o.LoadErrors != nil {
			o.LoadErrors(err)
		}
	}
	if h.rt.rulesLoaded != nil {
		if err := h.rt.rulesLoaded(set.Rules); err != nil {
			return err
		}
	}
	if err := h.engine.SetRules(engineRules); err != nil {
		return err
	}
	h.rules = engineRules
	h.current.Store(set)
	o.Log.Info("rules loaded", "rules", len(set.Rules), "errors", len(set.Errors), "schedules", len(entries))
	h.scheduler = schedule.New(o.Clock, h.fireSchedule, kvLastRuns{h.store}, o.Log)
	h.scheduler.Set(entries)
	return nil
}

// run runs the engine (runEngine: the engine, or the cluster node) and
// every source of events (parts besides the scheduler and the admin API)
// until ctx ends or one of them fails, then stops the sources before the
// engine.
func (h *host) run(ctx context.Context, ln net.Listener, runEngine func(context.Context) error, parts []func(context.Context) error) error {
	sourceCtx, stopSources := context.WithCancel(ctx)
	defer stopSources()
	engineCtx, stopEngine := context.WithCancel(context.WithoutCancel(ctx))
	defer stopEngine()
	var (
		errMu sync.Mutex
		first error
	)
	fail := func(err error) {
		if err == nil {
			return
		}
		errMu.Lock()
		if first == nil {
			first = err
		}
		errMu.Unlock()
		stopSources()
	}
	engineDone := make(chan struct{})
	go func() { fail(runEngine(engineCtx)); close(engineDone) }()
	var sources sync.WaitGroup
	for _, part := range append([]func(context.Context) error{h.scheduler.Run}, parts...) {
		sources.Go(func() { fail(part(sourceCtx)) })
	}
	if ln != nil {
		if h.opts.AdminReady != nil {
			h.opts.AdminReady(ln.Addr().String())
		}
		sources.Go(func() { fail(h.serveAdmin(sourceCtx, ln)) })
	}
	if h.cl != nil && h.opts.Watch {
		h.opts.Log.Warn("cluster mode does not reload rules (--watch ignored): restart the engines one by one to change them")
	}
	if h.opts.Reload != nil {
		sources.Go(func() { h.reloadOn(sourceCtx, h.opts.Reload) })
	}
	if h.opts.Watch && h.cl == nil {
		// Watching starts before ready: a change after /healthz says ok
		// is seen.
		rw, err := watchRules(h.cfg.Rules, h.opts.Log)
		if err != nil {
			fail(err)
		} else {
			sources.Go(func() { fail(h.runWatch(sourceCtx, rw, cmp.Or(h.opts.WatchDebounce, DefaultWatchDebounce))) })
			h.opts.Log.Info("watching the rule files", "dir", h.cfg.Rules)
		}
	}
	h.ready.Store(true)
	if h.opts.Started != nil {
		h.opts.Started(h.engine)
	}
	<-sourceCtx.Done()
	h.opts.Log.Info("stopping: admin requests in flight and event sources first")
	sources.Wait()
	stopEngine()
	<-engineDone
	h.opts.Log.Info("stopped: runs finished; closing the store")
	return first
}

// serveAdmin serves the admin API on ln until ctx ends and its requests
// in flight have finished.
func (h *host) serveAdmin(ctx context.Context, ln net.Listener) error {
	wait, _ := h.cfg.AcceptWaitDuration() // Validate checked it
	srv := &admin.Server{Engine: h.engine, Store: h.store, Log: h.opts.Log, Ready: h.ready.Load, AcceptWait: wait,
		Gauges: h.gauges, Reload: h.reload, Loads: h.loads.report, Account: h.rt.account,
		Next: h.next, Feed: &h.feed}
	if h.cl != nil {
		h.cl.adminServer(srv)
	}
	handler := srv.Handler()
	// Streams last until the server stops; Shutdown would wait for them.
	// They are closed when ctx ends, and in any case once the server has
	// stopped: stop can win against a cancellation still on its way to
	// the AfterFunc (ctx.Done is closed before the context's children are
	// told), and the streams would then stay open after the host stopped.
	stop := context.AfterFunc(ctx, h.feed.Close)
	defer func() { stop(); h.feed.Close() }()
	if err := serveListener(ctx, ln, handler); err != nil {
		return fmt.Errorf("admin API: %w", err)
	}
	return nil
}

// onEvent and onRun show the engine's events and runs to the live streams
// (the dashboard's and GET /api/events/stream) and to Options.OnEvent and
// OnRun.
func (h *host) onEvent(ev engine.Event) {
	h.feed.Publish(ev.Record())
	if h.opts.OnEvent != nil {
		h.opts.OnEvent(ev)
	}
}

func (h *host) onRun(t engine.Trace) {
	h.feed.PublishRun(t)
	if h.opts.OnRun != nil {
		h.opts.OnRun(t)
	}
}

// next answers GET /api/rules/{id}/next from the rules running now.
func (h *host) next(rule string, from time.Time, count int) (admin.NextReport, error) {
	return nextFires(h.current.Load(), rule, from, count)
}

func (h *host) gauges() []engine.Gauge {
	extra := append(h.engine.BreakerGauges(), h.engine.StateGauges()...)
	for _, g := range h.rt.gauges {
		extra = append(extra, g()...)
	}
	if h.cl != nil {
		extra = append(extra, engine.Gauge{Name: "alexarules_cluster_log_dropped_total",
			Help: "Traces and journal records never written to the cluster's log stream (NATS away).", Type: "counter",
			Value: float64(h.cl.conn.Dropped())})
	}
	return append(extra, []engine.Gauge{
		{Name: "alexarules_store_dropped_total", Help: "Journal events and traces never written: recorded after the store closed, not encodable, or lost with a failed write.",
			Type: "counter", Value: float64(h.store.Dropped())},
		{Name: "alexarules_rules_loaded", Help: "Rules loaded.", Type: "gauge", Value: float64(len(h.engine.Rules()))},
	}...)
}

// loadReports keeps the outcome of the latest load of the rule files.
type loadReports struct {
	mu  sync.Mutex
	rep admin.LoadReport
}

func (l *loadReports) report() admin.LoadReport {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rep
}

func (l *loadReports) started(errs []error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rep.Errors = loadErrors(errs)
}

func (l *loadReports) reloaded(at time.Time, errs []error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rep = admin.LoadReport{Reloaded: true, OK: len(errs) == 0, Time: at, Errors: loadErrors(errs)}
}

// loadErrors names each error's rule file where it has one.
func loadErrors(errs []error) []admin.LoadError {
	out := make([]admin.LoadError, len(errs))
	for i, err := range errs {
		out[i].Err = err.Error()
		var le *rules.LoadError
		if errors.As(err, &le) {
			out[i].File = le.File
		}
	}
	return out
}
