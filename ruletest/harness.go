package ruletest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/alexarules/alexarules/alexa/sim"
	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/host"
	"github.com/alexarules/alexarules/scripting"
)

// settleTimeout bounds how long one step waits for the engine to finish
// what it caused; far more than any step should take.
const settleTimeout = 10 * time.Second

// quietPolls is how many polls in a row must see nothing change before a
// step counts as settled: a push travels from the simulator to the engine
// over a loopback connection, unseen by the engine until it arrives.
const quietPolls = 5

// harness is one test's world: a simulated household, an engine on a
// virtual clock running the rules beside the test file, and what the
// engine did.
type harness struct {
	o        Options
	dir      string   // the test file's directory
	rules    []string // the rule files loaded
	data     string   // the data file, kept across t.restart()
	loc      *time.Location
	sim      *sim.Server
	simURL   string
	clock    *engine.Virtual
	hh       sim.Household
	smart    bool // the household has smart-home devices: device() uses them
	readings map[string]any

	mu      sync.Mutex
	events  []engine.Event
	traces  []engine.Trace
	used    map[int]bool // indexes of actions matched by expect_call
	actions []engine.Action
	loadErr []error

	eng      *engine.Engine
	stop     context.CancelFunc
	stopped  chan error
	simSrv   *http.Server
	simDone  chan error
	inflight atomic.Int64 // requests the simulator is serving
}

// quietResync is the bridge's re-sync interval while push is down: the
// test's push connection stays up, and a shorter one would stop the
// virtual clock every 15 s of a week-long test.
const quietResync = 24 * time.Hour

// defaultStart is where a test's clock stands unless t.clock says.
const defaultStart = "2026-01-05 09:00"

func newHarness(o Options, dir string, ruleFiles []string, data string, loc *time.Location) *harness {
	start, _ := time.ParseInLocation(clockLayout, defaultStart, loc)
	return &harness{o: o, dir: dir, rules: ruleFiles, data: data, loc: loc, clock: engine.NewVirtual(start),
		readings: map[string]any{}, used: map[int]bool{}}
}

const clockLayout = "2006-01-02 15:04"

// started reports whether the engine runs (t.household and t.clock must
// come before).
func (h *harness) started() bool { return h.eng != nil }

// start starts the simulator and the engine, once.
func (h *harness) start(ctx context.Context) error {
	if h.eng != nil {
		return nil
	}
	if h.sim == nil {
		if err := h.startSim(ctx); err != nil {
			return err
		}
	}
	return h.startEngine(ctx)
}

func (h *harness) startSim(ctx context.Context) error {
	// The voice history runs on the test's clock: an utterance's delay,
	// and the window the engine asks for, are virtual time.
	h.sim = sim.New(h.hh, sim.Options{HistoryNow: func() time.Time { return h.clock.Now() }})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("simulated household: %w", err)
	}
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true) // the push downchannel
	h.simSrv = &http.Server{Handler: h.counting(h.sim.Handler()), Protocols: &p,
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) }}
	h.simURL = "http://" + ln.Addr().String()
	h.simDone = make(chan error, 1)
	go func() { h.simDone <- h.simSrv.Serve(ln) }()
	return nil
}

// counting counts the requests in progress, but for the push
// downchannel, which stays open: settle waits for them.
func (h *harness) counting(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/v20160207/directives") {
			h.inflight.Add(1)
			defer h.inflight.Add(-1)
		}
		next.ServeHTTP(w, r)
	})
}

// startEngine runs a host on the data file until stopEngine.
func (h *harness) startEngine(ctx context.Context) error {
	devices := host.DevicesFeatures
	if h.smart {
		devices = host.DevicesSmartHome
	}
	cfg := host.Config{Rules: h.dir, Data: h.data, Admin: "off", Cloud: h.simURL, Push: "http2", Devices: devices,
		Timezone: h.loc.String(),
		// t.reading publishes readings itself: the poller only takes its
		// baseline, so no poll competes with the test's values.
		PollInterval: "8760h",
		// Pushes make the engine read the voice history (t.voice): a slow
		// timer would stop the virtual clock every 2 minutes.
		Voice: host.VoiceConfig{Poll: quietResync.String()}}
	started := make(chan *engine.Engine, 1)
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	h.stopped = make(chan error, 1)
	log := h.o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	go func() {
		h.stopped <- host.Run(runCtx, host.Options{Config: cfg, Log: log, Clock: h.clock, RulePaths: h.rules,
			OnEvent: h.onEvent, OnRun: h.onRun, LoadErrors: h.onLoadError, DownResync: quietResync,
			Started: func(e *engine.Engine) { started <- e }})
	}()
	select {
	case h.eng = <-started:
		h.stop = cancel
	case err := <-h.stopped:
		cancel()
		return fmt.Errorf("start the engine: %w", err)
	case <-time.After(settleTimeout):
		cancel()
		return errors.New("start the engine: not running after " + settleTimeout.String())
	}
	if errs := h.loadErrors(); len(errs) > 0 {
		return fmt.Errorf("rules: %w", errors.Join(errs...))
	}
	return h.waitPush()
}

// waitPush waits until the engine's push connection is up, so that what
// the test does in the household reaches it as it would from Amazon.
func (h *harness) waitPush() error {
	deadline := time.Now().Add(settleTimeout)
	for {
		var out struct {
			Clients int `json:"clients"`
		}
		if err := h.control(http.MethodPost, "/_sim/push", `{"command":"PUSH_EQUALIZER_STATE_CHANGE","payload":{}}`, &out); err != nil {
			return err
		}
		if out.Clients > 0 {
			return h.settle()
		}
		if time.Now().After(deadline) {
			return errors.New("the engine's push connection to the simulated household did not open")
		}
		time.Sleep(time.Millisecond)
	}
}

// stopEngine stops the engine (runs in progress finish) and waits for it.
func (h *harness) stopEngine() error {
	if h.eng == nil {
		return nil
	}
	h.stop()
	err := <-h.stopped
	h.eng = nil
	return err
}

// close stops the engine and the simulator.
func (h *harness) close() error {
	err := h.stopEngine()
	if h.simSrv != nil {
		err = errors.Join(err, h.simSrv.Close())
		if serr := <-h.simDone; !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
	}
	return err
}

func (h *harness) onEvent(ev engine.Event) {
	h.mu.Lock()
	h.events = append(h.events, ev)
	h.mu.Unlock()
}

func (h *harness) onRun(tr engine.Trace) {
	h.mu.Lock()
	h.traces = append(h.traces, tr)
	for _, a := range tr.Actions {
		if !withheld(a) {
			h.actions = append(h.actions, a)
		}
	}
	h.mu.Unlock()
}

// withheld reports an action that was recorded and not sent to the
// household: in a shadow or dry run, or skipped by check_first. Calls are
// what reached a device.
func withheld(a engine.Action) bool {
	switch a.Result {
	case engine.ResultShadow, engine.ResultDryRun, scripting.ResultSkippedByCheck:
		return true
	}
	return false
}

func (h *harness) onLoadError(err error) {
	h.mu.Lock()
	h.loadErr = append(h.loadErr, err)
	h.mu.Unlock()
}

func (h *harness) loadErrors() []error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]error(nil), h.loadErr...)
}

// fingerprint is what settle watches for change.
type fingerprint struct {
	idle                     bool
	events, traces, requests int
	pending                  int
	inflight                 int64
}

func (h *harness) fingerprint() fingerprint {
	h.mu.Lock()
	fp := fingerprint{events: len(h.events), traces: len(h.traces)}
	h.mu.Unlock()
	fp.idle = (h.eng == nil || h.eng.Idle()) && h.inflight.Load() == 0
	fp.inflight = h.inflight.Load()
	fp.requests = len(h.sim.Requests())
	fp.pending = h.clock.Pending()
	return fp
}

// settle waits until the engine is idle and nothing has changed for
// quietPolls polls in a row: the runs an instant caused have finished,
// and so have the requests and pushes they caused.
func (h *harness) settle() error {
	deadline := time.Now().Add(settleTimeout)
	last, quiet := h.fingerprint(), 0
	for quiet < quietPolls {
		if time.Now().After(deadline) {
			return fmt.Errorf("the engine did not settle within %s (a rule that never finishes?)", settleTimeout)
		}
		time.Sleep(200 * time.Microsecond)
		fp := h.fingerprint()
		if fp.idle && fp == last {
			quiet++
		} else {
			quiet = 0
		}
		last = fp
	}
	return nil
}

// waitFor polls cond until it holds, or fails after settleTimeout saying
// what it waited for.
func (h *harness) waitFor(what string, cond func() bool) error {
	deadline := time.Now().Add(settleTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s", settleTimeout, what)
		}
		time.Sleep(200 * time.Microsecond)
	}
	return nil
}

// advance moves the clock to target one due time at a time, settling
// after each, so everything due runs in order.
func (h *harness) advance(target time.Time) error {
	for {
		next, ok := h.clock.Next()
		if !ok || next.After(target) {
			h.clock.Set(target)
			return h.settle()
		}
		h.clock.Set(next)
		if err := h.settle(); err != nil {
			return err
		}
	}
}

// control calls the simulator's control API in memory.
func (h *harness) control(method, path, body string, out any) error {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.sim.Handler().ServeHTTP(rec, req)
	if rec.Code >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, path, rec.Code, strings.TrimSpace(rec.Body.String()))
	}
	if out != nil {
		return json.Unmarshal(rec.Body.Bytes(), out)
	}
	return nil
}
