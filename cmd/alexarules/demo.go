package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/alexarules/alexarules/alexa/sim"
	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/host"
	"github.com/alexarules/alexarules/examples"
	"github.com/spf13/cobra"
)

// demoStep is one scripted thing that happens in the simulated household:
// a custom event through the admin API, or a change in the simulated
// cloud through its control API.
type demoStep struct {
	after time.Duration
	say   string
	event string
	data  map[string]any
	// sim, when set, is a control route and its JSON body; the body may
	// use the ring time of the demo alarm. method defaults to POST.
	sim    string
	method string
	body   func(ring time.Time) any
}

// demoAlarmAfter is when the demo's alarm rings, from the start.
const demoAlarmAfter = 35 * time.Second

// demoScript makes the example rules fire within the first minute.
var demoScript = []demoStep{
	{after: 3 * time.Second, say: "someone rings the doorbell: the living room music pauses, the Kitchen and Living Room Echos announce it (one request)", event: "doorbell"},
	{after: 6 * time.Second, say: "an alarm is set on the Bedroom Echo, ringing in half a minute",
		sim: "/_sim/notifications", body: func(ring time.Time) any {
			return map[string]any{"id": "demo-alarm", "type": "Alarm", "status": "ON", "version": "1",
				"deviceSerialNumber": "G090LF1182340B7K", "deviceType": "A32DOYMUN6DTXA", "alarmLabel": "demo",
				"originalDate": ring.Format("2006-01-02"), "originalTime": ring.Format("15:04:05.000")}
		}},
	{after: 10 * time.Second, say: "\"Alexa, add milk to my shopping list\"",
		sim: "/_sim/lists/amzn1.alexa.list.sim-shopping/items", body: func(time.Time) any { return map[string]string{"text": "milk"} }},
	{after: 16 * time.Second, say: "good morning: the wake-up light comes on", event: "good-morning"},
	{after: 22 * time.Second, say: "a short film starts (20 s long)", event: "movie-night", data: map[string]any{"length": "20s"}},
	{after: 30 * time.Second, say: "the doorbell rings again", event: "doorbell"},
	{after: 40 * time.Second, say: "\"Alexa, good night\" to the Bedroom Echo: read from the voice history seconds later, the lights go off and the Echo gets Do Not Disturb for 8 hours",
		sim: "/_sim/voice", body: func(time.Time) any { return map[string]string{"device": "Bedroom Echo", "text": "good night"} }},
}

// demoSensor is the smart-home temperature sensor of the demo household.
const demoSensor = "6a1f0c2e-3b4d-4e5f-9a8b-7c6d5e4f3a04"

// householdScript is the household demo's: a reading from the batched
// polls turns a fan plug on, a group and a colour by name, a throttle
// answer the poller waits out without losing the reading that follows.
var householdScript = []demoStep{
	{after: 3 * time.Second, say: "it is 27.5 °C in the living room (the next batched poll reads it)",
		sim: "/_sim/smarthome/" + demoSensor, method: http.MethodPatch, body: func(time.Time) any { return map[string]any{"temperature": 27.5} }},
	{after: 12 * time.Second, say: "a cosy evening: the Living Room group off, the bedroom lamp orange (sent as the nearest Alexa colour name)", event: "cosy-evening"},
	{after: 18 * time.Second, say: "Amazon throttles the account: \"Too many requests\" (every smart-home call pauses for the cool-down)",
		sim: "/_sim/faults", body: func(time.Time) any {
			return map[string]any{"path_prefix": "/api/phoenix/state", "status": 429, "times": 1,
				"body": map[string]string{"message": "Too many requests. Try again in some time."}}
		}},
	{after: 20 * time.Second, say: "the window opens: 21 °C (read once the cool-down is over; nothing is lost)",
		sim: "/_sim/smarthome/" + demoSensor, method: http.MethodPatch, body: func(time.Time) any { return map[string]any{"temperature": 21} }},
	{after: 25 * time.Second, say: "\"Alexa, add milk to my shopping list\"",
		sim: "/_sim/lists/amzn1.alexa.list.sim-shopping/items", body: func(time.Time) any { return map[string]string{"text": "milk"} }},
	{after: 35 * time.Second, say: "good morning: the bedroom lamp at daylight white, the kitchen light (an alias in the Alexa app) on", event: "good-morning"},
}

// demoHousehold is the simulator's demo household with music playing in
// the living room (the doorbell pauses it) and a "Good night" routine.
func demoHousehold() sim.Household {
	h := sim.DemoHousehold()
	h.Players = append(h.Players, sim.Player{Echo: "Living Room Echo", State: "PLAYING", Title: "Blue in Green",
		Artist: "Miles Davis", Provider: "Amazon Music", Length: 337})
	h.Routines = append(h.Routines, sim.Routine{Name: "Good night", Utterances: []string{"good night"}})
	return h
}

// demoKind is what one demo runs: which example files, the engine's
// configuration on top of the simulator's, and the script.
type demoKind struct {
	intro  string
	keep   func(path string) bool
	config func(c *host.Config)
	script []demoStep
}

// demoKinds are the business demo (Endpoint Features devices, the
// default) and the household one (smart-home devices).
func demoKinds(household bool) demoKind {
	if !household {
		return demoKind{
			intro:  "simulated household at %s (Bedroom, Living Room, Kitchen); rules from examples/",
			keep:   func(p string) bool { return !strings.Contains(p, "/") },
			config: func(*host.Config) {},
			script: demoScript,
		}
	}
	return demoKind{
		intro: "simulated household at %s with smart-home devices (Bedroom Lamp, Kitchen Light, the Living Room group " +
			"of a lamp and a fan plug, a temperature sensor); rules from examples/ and examples/household/; " +
			"for the demo the batched poll runs every 5s and a throttle pauses 10s (defaults: 5m; 30s doubling up to 5m)",
		// The film of movie-night.lua needs a speaker, an Endpoint
		// Features device.
		keep: func(p string) bool { return p != "movie-night.lua" },
		config: func(c *host.Config) {
			c.Devices, c.PollInterval, c.Poll.RequestsPerMinute, c.SmartHome.Cooldown = host.DevicesSmartHome, "5s", 60, "10s"
		},
		script: householdScript,
	}
}

// demoCmd runs the simulated household, the engine on the example rules
// and a scripted sequence, printing what happens as it happens.
func (a *app) demoCmd() *cobra.Command {
	var (
		adminAddr string
		household bool
	)
	c := &cobra.Command{
		Use:   "demo [flags]",
		Short: "simulated household + engine + examples/, live output",
		Args:  cobra.NoArgs,
	}
	c.Flags().StringVar(&adminAddr, "admin", host.DefaultAdmin, "admin API address")
	c.Flags().BoolVar(&household, "household", false, "the household's smart-home devices (--devices smarthome) with examples/household/ instead of Endpoint Features devices")
	c.RunE = a.action(func(cmd *cobra.Command, _ []string) error {
		return a.demo(cmd.Context(), adminAddr, demoKinds(household))
	})
	return c
}

func (a *app) demo(ctx context.Context, adminAddr string, kind demoKind) error {
	dir, err := os.MkdirTemp("", "alexarules-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	rulesDir := filepath.Join(dir, "rules")
	if err := copyExamples(rulesDir, kind.keep); err != nil {
		return err
	}
	out := &demoPrinter{w: a.stdout, start: time.Now()}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	// The simulated Alexa cloud, in-process, printing every API call.
	cloud := sim.New(demoHousehold(), sim.Options{Logger: log})
	simCtx, stopSim := context.WithCancel(ctx)
	defer stopSim()
	simAddr := make(chan string, 1)
	simDone := make(chan error, 1)
	go func() {
		simDone <- host.Serve(simCtx, "127.0.0.1:0", out.cloudCalls(cloud.Handler()), func(a string) { simAddr <- a })
	}()
	var cloudURL string
	select {
	case a := <-simAddr:
		cloudURL = "http://" + a
	case err := <-simDone:
		return fmt.Errorf("simulator: %w", err)
	}
	defer func() { stopSim(); <-simDone }()

	out.line("demo", kind.intro, cloudURL)
	cfg := host.Config{Rules: rulesDir, Data: filepath.Join(dir, "demo.db"), Admin: adminAddr, Cloud: cloudURL}
	kind.config(&cfg)
	adminReady := make(chan string, 1)
	engineDone := make(chan error, 1)
	engineCtx, stopEngine := context.WithCancel(ctx)
	defer stopEngine()
	go func() {
		engineDone <- host.Run(engineCtx, host.Options{
			Config: cfg,
			Log:    log, OnEvent: out.event, OnRun: out.run,
			LoadErrors: func(err error) { out.line("error", "%v", err) },
			AdminReady: func(a string) { adminReady <- a },
		})
	}()
	var admin string
	select {
	case admin = <-adminReady:
		out.line("demo", "admin API on http://%s  (try: curl http://%s/api/runs?limit=5)", admin, admin)
		out.line("demo", "press Ctrl-C to stop")
	case err := <-engineDone:
		return err
	}
	out.play(ctx, admin, cloudURL, kind.script)
	<-ctx.Done()
	stopEngine()
	if err := <-engineDone; err != nil {
		return err
	}
	out.line("demo", "stopped")
	return nil
}

// play runs the demo script until it is done or ctx ends.
func (p *demoPrinter) play(ctx context.Context, admin, cloudURL string, script []demoStep) {
	begin := time.Now()
	ring := begin.Add(demoAlarmAfter).In(berlin())
	publish := func(step demoStep) {
		p.line("demo", "%s", step.say)
		method, url, body := http.MethodPost, "http://"+admin+"/api/events", any(map[string]any{"name": step.event, "data": step.data})
		if step.sim != "" {
			method, url, body = cmp.Or(step.method, http.MethodPost), cloudURL+step.sim, step.body(ring)
		}
		b, _ := json.Marshal(body)
		req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(b))
		if err != nil {
			p.line("error", "%s: %v", url, err)
			return
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			p.line("error", "%s: %v", url, err)
			return
		}
		resp.Body.Close()
	}
	for _, step := range script {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(begin.Add(step.after))):
			publish(step)
		}
	}
	p.line("demo", "the script is done; schedules keep firing. Ctrl-C to stop")
}

// berlin is the zone of the demo household's Echos.
func berlin() *time.Location {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		return time.UTC
	}
	return loc
}

// copyExamples writes the embedded example rules that keep accepts
// (paths relative to examples/) into dir.
func copyExamples(dir string, keep func(path string) bool) error {
	return fs.WalkDir(examples.Files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !keep(p) {
			return err
		}
		b, err := examples.Files.ReadFile(p)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
}

// demoPrinter prints events, runs and cloud calls as they happen, one line
// each, readable at a glance.
type demoPrinter struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
}

func (p *demoPrinter) line(tag, format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "%s  %-6s %s\n", time.Now().Format("15:04:05"), tag, fmt.Sprintf(format, args...))
}

func (p *demoPrinter) event(ev engine.Event) {
	switch ev.Kind {
	case engine.KindCustom:
		p.line("event", "%s %s", ev.Name, compactJSON(ev.Data))
	case engine.KindSchedule:
	default:
		p.line("event", "%s %s", ev.Kind, compactJSON(ev.Data))
	}
}

func (p *demoPrinter) run(tr engine.Trace) {
	what := tr.Rule
	if tr.Handler != "" {
		what += "." + tr.Handler
	}
	detail := tr.Error
	if detail == "" {
		detail = tr.Reason
	}
	if detail == "" && len(tr.Log) > 0 {
		detail = strings.Join(tr.Log, "; ")
	}
	if len(tr.Actions) > 0 {
		calls := make([]string, len(tr.Actions))
		for i, a := range tr.Actions {
			calls[i] = a.Device + ":" + a.Call + sentName(a.Sent)
		}
		detail = strings.TrimSpace(detail + "  [" + strings.Join(calls, ", ") + "]")
	}
	p.line("run", "%-24s %-8s %6.1fms  %s", what, tr.Outcome, tr.DurationMS, detail)
}

// sentName is " → name" for an action the smart-home API took by name
// (a colour, a white), from its trace's "sent"; "" otherwise.
func sentName(sent any) string {
	m, _ := sent.(map[string]any)
	params, _ := m["parameters"].(map[string]any)
	for _, k := range []string{"colorName", "colorTemperatureName"} {
		if name, ok := params[k].(string); ok {
			return " → " + name
		}
	}
	return ""
}

// cloudCalls wraps the simulator so every API call is printed.
func (p *demoPrinter) cloudCalls(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		var body []byte
		if r.Body != nil {
			body, _ = io.ReadAll(r.Body)
			r.Body = io.NopCloser(strings.NewReader(string(body)))
		}
		h.ServeHTTP(rec, r)
		if strings.HasPrefix(r.URL.Path, "/_sim") || strings.HasPrefix(r.URL.Path, "/auth") {
			return
		}
		p.line("cloud", "%s %s %s -> %d", r.Method, shortPath(r.URL.Path), strings.TrimSpace(string(body)), rec.status)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Flush keeps the push stream flowing part by part through the recorder.
func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the real writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// shortPath abbreviates endpoint ids so a line stays readable.
func shortPath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if strings.HasPrefix(s, "amzn1.alexa.endpoint.") && len(s) > 29 {
			parts[i] = s[:29] + "…"
		}
	}
	return strings.Join(parts, "/")
}

func compactJSON(v any) string {
	if v == nil {
		return ""
	}
	b, err := json.Marshal(v)
	if err != nil || string(b) == "null" || string(b) == "{}" {
		return ""
	}
	return string(b)
}
