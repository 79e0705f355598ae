package admin_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/admin"
	"github.com/alexarules/alexarules/engine/enginetest"
	"github.com/alexarules/alexarules/engine/store"
)

// wait bounds every wait of these tests; a healthy run takes milliseconds.
const wait = 10 * time.Second

// failOn fails runs of events named "bad".
type failOn struct{}

func (failOn) Run(ctx context.Context, inv *engine.Invocation) engine.Result {
	if inv.Event.Name == "bad" {
		return engine.Result{Err: errors.New("bad event")}
	}
	return engine.Result{}
}
func (failOn) Close() {}

// runningEngine starts an engine with one rule, "echo", that runs on every
// custom event; runs receives its finished runs.
func runningEngine(t *testing.T) (e *engine.Engine, st *store.Store, runs <-chan engine.Trace) {
	t.Helper()
	ch := make(chan engine.Trace, 100)
	rule := &engine.Rule{ID: "echo", Enabled: true, Mode: engine.ModeQueued, Max: 100, Timeout: time.Second,
		Triggers:    []engine.Trigger{{Kind: engine.KindCustom}},
		NewInstance: func() (engine.Instance, error) { return failOn{}, nil }}
	e, st = startEngine(t, engine.Config{OnRun: func(tr engine.Trace) { ch <- tr }}, rule)
	return e, st, ch
}

// startEngine runs an engine made with cfg on a new store, with rules;
// the test's end stops it and closes the store.
func startEngine(t *testing.T, cfg engine.Config, rules ...*engine.Rule) (*engine.Engine, *store.Store) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "m.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Store = st
	e := engine.New(cfg)
	if err := e.SetRules(rules); err != nil {
		t.Fatal(err)
	}
	enginetest.Run(t, e, func() { st.Close() })
	return e, st
}

func awaitRun(t *testing.T, runs <-chan engine.Trace) engine.Trace {
	t.Helper()
	select {
	case tr := <-runs:
		return tr
	case <-time.After(wait):
		t.Fatalf("no run within %s", wait)
		return engine.Trace{}
	}
}

func TestMetricsHaveHistogramsRuntimeRulesAndComponents(t *testing.T) {
	e, st, runs := runningEngine(t)
	for _, name := range []string{"good", "bad"} {
		e.Publish(engine.Event{Kind: engine.KindCustom, Name: name})
		awaitRun(t, runs)
	}
	e.Metrics().ObserveAPICall("features", "2xx", 80*time.Millisecond)
	srv := httptest.NewServer((&admin.Server{Engine: e, Store: st, Gauges: func() []engine.Gauge {
		return []engine.Gauge{
			{Name: "alexarules_test_queue", Help: "A gauge.", Type: "gauge", Value: 7},
			{Name: "alexarules_test_sent_total", Help: "A counter.", Type: "counter", Value: 3},
		}
	}}).Handler())
	defer srv.Close()
	status, body := do(t, "GET", srv.URL+"/metrics", "")
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: %d\n%s", status, body)
	}
	for _, want := range []string{
		`alexarules_events_total{kind="event"} 2`,
		`alexarules_rule_runs_total{outcome="ok",rule="echo"} 1`,
		`alexarules_rule_runs_total{outcome="failed",rule="echo"} 1`,
		`alexarules_rule_run_seconds_total{rule="echo"}`,
		`alexarules_rule_run_duration_seconds_bucket{outcome="failed",le="0.0005"}`,
		`alexarules_rule_run_duration_seconds_count{outcome="ok"} 1`,
		`alexarules_event_to_run_seconds_bucket{kind="event",le="+Inf"} 2`,
		`alexarules_api_call_duration_seconds_bucket{api="features",result="2xx",le="0.1"} 1`,
		`alexarules_api_call_duration_seconds_bucket{api="features",result="2xx",le="0.05"} 0`,
		"alexarules_events_dropped_total 0",
		"alexarules_chain_depth_drops_total 0",
		"go_goroutines ",
		"process_resident_memory_bytes ",
		"# TYPE alexarules_test_queue gauge\nalexarules_test_queue 7\n",
		"# TYPE alexarules_test_sent_total counter\nalexarules_test_sent_total 3\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(body)
	}
}

func TestMetricsServeTheRestWhenAComponentGaugeIsBad(t *testing.T) {
	bad := httptest.NewServer((&admin.Server{Engine: engine.New(engine.Config{}), Gauges: func() []engine.Gauge {
		return []engine.Gauge{
			{Name: "bad name", Help: "Not a metric name.", Type: "gauge", Value: 1},
			{Name: "alexarules_test_histogram", Help: "Not a gauge.", Type: "histogram", Value: 1},
			{Name: "alexarules_test_fine", Help: "Fine.", Type: "gauge", Value: 2},
		}
	}}).Handler())
	defer bad.Close()
	status, body := do(t, "GET", bad.URL+"/metrics", "")
	if status != http.StatusOK || !strings.Contains(body, "alexarules_test_fine 2") || !strings.Contains(body, "go_goroutines") {
		t.Errorf("GET /metrics with bad gauges: %d\n%s", status, body)
	}
	if strings.Contains(body, "alexarules_test_histogram") {
		t.Errorf("a gauge of an unknown type was served:\n%s", body)
	}
}

// stalledWriter is a scraper that has stopped reading: its first Write
// blocks until release is closed.
type stalledWriter struct {
	header  http.Header
	writing chan struct{} // closed at the first Write
	release chan struct{}
	started bool
}

func (w *stalledWriter) Header() http.Header { return w.header }
func (w *stalledWriter) WriteHeader(int)     {}
func (w *stalledWriter) Write(p []byte) (int, error) {
	if !w.started {
		w.started = true
		close(w.writing)
	}
	<-w.release
	return len(p), nil
}

func TestSlowScraperDoesNotBlockPublishOrRuns(t *testing.T) {
	e, st, runs := runningEngine(t)
	h := (&admin.Server{Engine: e, Store: st, Gauges: func() []engine.Gauge { return nil }}).Handler()
	w := &stalledWriter{header: http.Header{}, writing: make(chan struct{}), release: make(chan struct{})}
	scraped := make(chan struct{})
	go func() {
		h.ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
		close(scraped)
	}()
	defer func() { close(w.release); <-scraped }()
	select {
	case <-w.writing:
	case <-time.After(wait):
		t.Fatalf("/metrics wrote nothing within %s", wait)
	}

	published := make(chan struct{})
	go func() {
		e.Publish(engine.Event{Kind: engine.KindCustom, Name: "during-scrape"})
		close(published)
	}()
	select {
	case <-published:
	case <-time.After(wait):
		t.Fatalf("Publish blocked for %s behind a stalled /metrics scrape", wait)
	}
	if tr := awaitRun(t, runs); tr.Outcome != engine.OutcomeOK {
		t.Errorf("run during the scrape: %s %s", tr.Outcome, tr.Error)
	}
}
