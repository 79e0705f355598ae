package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/admin"
	"github.com/alexarules/alexarules/engine/store"
)

func server(t *testing.T, ready bool, reload func() (int, []error)) (*httptest.Server, *engine.Engine) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "a.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := engine.New(engine.Config{Store: st})
	srv := httptest.NewServer((&admin.Server{Engine: e, Store: st, Ready: func() bool { return ready }, Reload: reload,
		Gauges: func() []engine.Gauge {
			return []engine.Gauge{{Name: "alexarules_test_gauge", Help: "A gauge.", Type: "gauge", Value: 7}}
		}}).Handler())
	t.Cleanup(srv.Close)
	return srv, e
}

func do(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestRequestsAreCheckedAndAnswered(t *testing.T) {
	srv, _ := server(t, true, func() (int, []error) { return 0, []error{errors.New("r.lua:3: bad")} })
	for _, tc := range []struct {
		method, path, body string
		status             int
		want               string
	}{
		{"GET", "/healthz", "", 200, `"status": "ok"`},
		{"GET", "/api/rules", "", 200, "[]"},
		{"GET", "/api/events?limit=0", "", 400, "limit"},
		{"GET", "/api/events?limit=x", "", 400, "limit"},
		{"GET", "/api/runs?limit=20000", "", 400, "limit"},
		{"GET", "/api/runs", "", 200, "[]"},
		{"POST", "/api/events", `{"name":"x","data":{"a":1}}`, 202, `"id"`},
		{"POST", "/api/events", `{"data":{}}`, 400, `field \"name\" is required`},
		{"POST", "/api/events", `{"name":"x","extra":1}`, 400, "extra"},
		{"POST", "/api/events", `not json`, 400, "body must be"},
		{"POST", "/api/events", `{"name":"x"} {"name":"y"}`, 400, "after the event"},
		{"POST", "/api/events", `{"name":"x"}]`, 400, "after the event"},
		{"POST", "/api/events", `{"name":"x","data":{"s":"` + strings.Repeat("x", 1<<20) + `"}}`, 413, "1 MiB"},
		{"POST", "/api/reload", "", 422, "r.lua:3: bad"},
		{"GET", "/metrics", "", 200, "alexarules_test_gauge 7"},
	} {
		status, body := do(t, tc.method, srv.URL+tc.path, tc.body)
		if status != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("%s %s: %d %s, want %d with %q", tc.method, tc.path, status, body, tc.status, tc.want)
		}
	}
}

func TestHealthBeforeReadyAndReloadSuccess(t *testing.T) {
	srv, _ := server(t, false, func() (int, []error) { return 4, nil })
	if status, _ := do(t, "GET", srv.URL+"/healthz", ""); status != http.StatusServiceUnavailable {
		t.Fatalf("healthz before ready: %d", status)
	}
	status, body := do(t, "POST", srv.URL+"/api/reload", "")
	var got map[string]int
	if status != 200 || json.Unmarshal([]byte(body), &got) != nil || got["rules"] != 4 {
		t.Fatalf("reload: %d %s", status, body)
	}
}

func TestHealthAndRulesShowTheLatestLoad(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "a.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := engine.New(engine.Config{Store: st})
	if err := e.SetRules([]*engine.Rule{{ID: "r", File: "rules/r.lua", Enabled: true}}); err != nil {
		t.Fatal(err)
	}
	var latest atomic.Pointer[admin.LoadReport] // the handler reads it on its own goroutine
	rep := admin.LoadReport{Errors: []admin.LoadError{{File: "rules/bad.lua", Err: "rules/bad.lua:2: nope"}}}
	latest.Store(&rep)
	srv := httptest.NewServer((&admin.Server{Engine: e, Store: st, Loads: func() admin.LoadReport { return *latest.Load() }}).Handler())
	t.Cleanup(srv.Close)

	if status, body := do(t, "GET", srv.URL+"/healthz", ""); status != 200 || body != "{\n  \"status\": \"ok\"\n}\n" {
		t.Fatalf("healthz before a reload (start-up errors do not degrade it): %d %s", status, body)
	}
	var rules []map[string]any
	if _, body := do(t, "GET", srv.URL+"/api/rules", ""); json.Unmarshal([]byte(body), &rules) != nil || len(rules) != 2 ||
		rules[0]["status"] != "running" || rules[1]["id"] != "" || rules[1]["file"] != "rules/bad.lua" ||
		rules[1]["status"] != "error" || rules[1]["enabled"] != false || rules[1]["error"] != "rules/bad.lua:2: nope" {
		t.Fatalf("rules: %v", rules)
	}

	rep = admin.LoadReport{Reloaded: true, Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Errors: []admin.LoadError{{File: "rules/r.lua", Err: "rules/r.lua:1: broken"}, {Err: "rules: gone"}}}
	latest.Store(&rep)
	status, body := do(t, "GET", srv.URL+"/healthz", "")
	var h struct {
		Status string
		Reload struct {
			OK     bool
			Time   time.Time
			Errors []string
		}
	}
	if status != 200 || json.Unmarshal([]byte(body), &h) != nil || h.Status != "degraded" || h.Reload.OK ||
		!h.Reload.Time.Equal(rep.Time) || len(h.Reload.Errors) != 2 {
		t.Fatalf("healthz after a failed reload: %d %s", status, body)
	}
	if _, body := do(t, "GET", srv.URL+"/api/rules", ""); json.Unmarshal([]byte(body), &rules) != nil || len(rules) != 1 ||
		rules[0]["status"] != "error" || rules[0]["error"] != "rules/r.lua:1: broken" {
		t.Fatalf("rules after a failed reload: %s", body)
	}
	latest.Store(&admin.LoadReport{Reloaded: true, OK: true, Time: rep.Time})
	if _, body := do(t, "GET", srv.URL+"/healthz", ""); !strings.Contains(body, `"status": "ok"`) || !strings.Contains(body, `"ok": true`) {
		t.Fatalf("healthz after a good reload: %s", body)
	}
}

// blockInstance holds every run until the test ends.
type blockInstance struct{ release <-chan struct{} }

func (b blockInstance) Run(context.Context, *engine.Invocation) engine.Result {
	<-b.release
	return engine.Result{}
}
func (blockInstance) Close() {}

func TestPublishAnswers429WhenFullAnd503WhenTheStoreFails(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "a.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	e := engine.New(engine.Config{Store: st, MaxBacklog: 1})
	err = e.SetRules([]*engine.Rule{{ID: "r", Enabled: true, Mode: engine.ModeQueued, Max: 10, Timeout: time.Minute,
		Triggers:    []engine.Trigger{{Kind: engine.KindCustom}},
		NewInstance: func() (engine.Instance, error) { return blockInstance{release}, nil }}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer((&admin.Server{Engine: e, Store: st}).Handler())
	defer srv.Close()
	defer close(release)
	if status, body := do(t, "POST", srv.URL+"/api/events", `{"name":"x"}`); status != http.StatusAccepted {
		t.Fatalf("first event: %d %s", status, body)
	}
	if p, err := st.Inbox(); err != nil || len(p) != 1 {
		t.Fatalf("the 202 event is not durable: %d, %v", len(p), err)
	}
	req, _ := http.NewRequest("POST", srv.URL+"/api/events", strings.NewReader(`{"name":"x"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("beyond the backlog: %d, Retry-After %q; want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if _, metrics := do(t, "GET", srv.URL+"/metrics", ""); !strings.Contains(metrics, "alexarules_events_refused_total 1") {
		t.Errorf("/metrics does not count the refusal:\n%s", metrics)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	e2 := engine.New(engine.Config{Store: st})
	if err := e2.SetRules([]*engine.Rule{{ID: "r", Enabled: true, Mode: engine.ModeQueued, Max: 10, Timeout: time.Minute,
		Triggers: []engine.Trigger{{Kind: engine.KindCustom}}}}); err != nil {
		t.Fatal(err)
	}
	srv2 := httptest.NewServer((&admin.Server{Engine: e2, Store: st}).Handler())
	defer srv2.Close()
	if status, body := do(t, "POST", srv2.URL+"/api/events", `{"name":"x"}`); status != http.StatusServiceUnavailable || !strings.Contains(body, "retry later") {
		t.Fatalf("closed store: %d %s, want 503", status, body)
	}
}

func TestHealthSaysLogInAgainWhenTheAccountNeedsIt(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "a.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var latest atomic.Pointer[admin.AccountReport]
	latest.Store(&admin.AccountReport{})
	srv := httptest.NewServer((&admin.Server{Engine: engine.New(engine.Config{Store: st}), Store: st,
		Account: func() admin.AccountReport { return *latest.Load() }}).Handler())
	t.Cleanup(srv.Close)
	if status, body := do(t, "GET", srv.URL+"/healthz", ""); status != 200 || body != "{\n  \"status\": \"ok\"\n}\n" {
		t.Fatalf("healthz with a live session: %d %s", status, body)
	}
	latest.Store(&admin.AccountReport{LoginRequired: true, Reason: "refresh token refused: invalid_grant"})
	status, body := do(t, "GET", srv.URL+"/healthz", "")
	var h struct {
		Status string
		Alexa  struct {
			LoginRequired bool `json:"login_required"`
			Reason        string
		}
	}
	if status != 200 || json.Unmarshal([]byte(body), &h) != nil || h.Status != "degraded" || !h.Alexa.LoginRequired ||
		h.Alexa.Reason != "refresh token refused: invalid_grant" {
		t.Fatalf("healthz with a dead session: %d %s", status, body)
	}
}

// POST /api/rules/{id}/shadow toggles a rule's shadow runs; the toggle is
// stored, so an engine started on the same data has it too.
func TestShadowToggleIsStoredAndListed(t *testing.T) {
	db := filepath.Join(t.TempDir(), "a.db")
	serve := func() (*httptest.Server, func()) {
		st, err := store.Open(db, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		e := engine.New(engine.Config{Store: st})
		if err := e.SetRules([]*engine.Rule{{ID: "r", File: "rules/r.lua", Enabled: true}}); err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer((&admin.Server{Engine: e, Store: st}).Handler())
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- e.Run(ctx) }()
		return srv, func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
			srv.Close()
			st.Close()
		}
	}
	srv, stop := serve()
	for _, tc := range []struct {
		path, body string
		status     int
		want       string
	}{
		{"/api/rules/r/shadow", `{"shadow":true}`, 200, `"shadow": true`},
		{"/api/rules/nope/shadow", `{"shadow":true}`, 404, `no such rule: \"nope\"`},
		{"/api/rules/r/shadow", `{}`, 400, `field \"shadow\" is required`},
		{"/api/rules/r/shadow", `{"shadow":"yes"}`, 400, "body must be"},
		{"/api/rules/r/shadow", `{"shadow":true,"x":1}`, 400, "unknown field"},
	} {
		if status, body := do(t, "POST", srv.URL+tc.path, tc.body); status != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("POST %s %s: %d %s, want %d with %q", tc.path, tc.body, status, body, tc.status, tc.want)
		}
	}
	stop()
	srv, stop = serve()
	defer stop()
	// Run loads the stored toggles as it starts.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		_, body := do(t, "GET", srv.URL+"/api/rules", "")
		if strings.Contains(body, `"shadow": true`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a restart the toggle must stay: %s", body)
		}
	}
}
