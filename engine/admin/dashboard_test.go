package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/admin"
)

// xssLog is a log line that runs script if the page ever renders rule
// data as HTML.
const xssLog = `<img src=x onerror="document.title='pwned'">`

// lampRule answers every custom event with an action on a lamp, its
// smart-home "sent" form and a log line that is markup.
type lampRule struct{}

func (lampRule) Run(ctx context.Context, inv *engine.Invocation) engine.Result {
	return engine.Result{State: json.RawMessage(`{"count":1}`),
		Actions: []engine.Action{{Call: "set_brightness", Device: "Desk <Lamp>", Args: map[string]any{"brightness": 40},
			Result: "ok", Sent: map[string]any{"brightness": 0.4}}},
		Log: []string{"dimmed for " + inv.Event.Name, xssLog}}
}
func (lampRule) Close() {}

// dashboardServer runs an engine with the rule "lamp <b>" wired to the
// admin server's Feed, as the host wires them.
// stopStreams closes the Feed, as the host does when it stops.
func dashboardServer(t *testing.T) (srv *httptest.Server, stopStreams func()) {
	t.Helper()
	var feed admin.Feed
	rule := &engine.Rule{ID: "lamp", File: "lamp.lua", Enabled: true, Mode: engine.ModeQueued, Max: 100, Timeout: time.Second,
		Triggers:    []engine.Trigger{{Kind: engine.KindCustom, Spec: `event "<script>dim</script>"`}},
		NewInstance: func() (engine.Instance, error) { return lampRule{}, nil }}
	e, st := startEngine(t, engine.Config{OnEvent: func(ev engine.Event) { feed.Publish(ev.Record()) }, OnRun: feed.PublishRun}, rule)
	srv = httptest.NewServer((&admin.Server{Engine: e, Store: st, Feed: &feed,
		Reload: func() (int, []error) { return 1, nil },
		Next: func(rule string, from time.Time, n int) (admin.NextReport, error) {
			fire := admin.NextFire{Time: time.Date(2030, 1, 2, 7, 0, 0, 0, time.UTC), Zone: "UTC", Trigger: `schedule "07:00"`}
			return admin.NextReport{Rule: rule, Enabled: true, From: from, Fires: []admin.NextFire{fire}[:min(n, 1)]}, nil
		},
		Gauges: func() []engine.Gauge {
			return []engine.Gauge{{Name: "alexarules_push_connected", Type: "gauge", Value: 1},
				{Name: "alexarules_poll_budget_requests_per_second", Type: "gauge", Value: 0.5},
				{Name: "alexarules_poll_demand_requests_per_second", Type: "gauge", Value: 0.25}}
		}}).Handler())
	t.Cleanup(func() { feed.Close(); srv.Close() })
	return srv, feed.Close
}

func TestDashboardPageIsServedWithItsFilesAndAStrictPolicy(t *testing.T) {
	srv, _ := dashboardServer(t)
	for _, tc := range []struct{ path, ctype, want string }{
		{"/", "text/html", `<body data-reload="on">`},
		{"/ui/app.js", "javascript", "textContent"},
		{"/ui/style.css", "text/css", "@media"},
	} {
		resp, err := http.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		var body strings.Builder
		_, _ = io.Copy(&body, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), tc.ctype) || !strings.Contains(body.String(), tc.want) {
			t.Errorf("GET %s: %d %s, want 200 %s with %q", tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), tc.ctype, tc.want)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q", tc.path, csp)
		}
	}
	if status, _ := do(t, "GET", srv.URL+"/ui/nothing.js", ""); status != 404 {
		t.Errorf("GET /ui/nothing.js: %d, want 404", status)
	}
}

func TestRulesHaveTheirNextFireAndHoldsAndGaugesAreJSON(t *testing.T) {
	srv, _ := dashboardServer(t)
	for _, tc := range []struct {
		path   string
		status int
		want   string
	}{
		{"/api/rules", 200, `"next_fire": "2030-01-02T07:00:00Z"`},
		{"/api/rules/lamp/holds", 200, "[]"},
		{"/api/rules/nope/holds", 404, `no such rule \"nope\"`},
		{"/api/gauges", 200, `"name": "alexarules_push_connected"`},
	} {
		if status, body := do(t, "GET", srv.URL+tc.path, ""); status != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("GET %s: %d %s, want %d with %q", tc.path, status, body, tc.status, tc.want)
		}
	}
}

func TestStreamSendsEventsAndRunsAndEndsWhenTheServerStops(t *testing.T) {
	srv, stopStreams := dashboardServer(t)
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/api/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The stream is subscribed once the dial returns.
	do(t, "POST", srv.URL+"/api/events", `{"name":"porch"}`)
	got := map[string]bool{}
	_ = conn.SetReadDeadline(time.Now().Add(wait))
	for !got["event:porch"] || !got["run:lamp"] {
		var m admin.FeedMessage
		if err := conn.ReadJSON(&m); err != nil {
			t.Fatalf("stream: %v (got %v)", err, got)
		}
		switch {
		case m.Event != nil:
			got[m.Type+":"+m.Event.Name] = true
		case m.Run != nil:
			got[m.Type+":"+m.Run.Rule] = true
			if len(m.Run.Actions) != 1 || m.Run.Actions[0].Sent == nil || len(m.Run.Log) != 2 {
				t.Errorf("run in stream: %+v", m.Run)
			}
		}
	}
	stopStreams()
	for {
		_, _, err := conn.ReadMessage()
		if ce, ok := errors.AsType[*websocket.CloseError](err); ok && ce.Code == websocket.CloseGoingAway {
			return
		}
		if err != nil {
			t.Fatalf("stream after the server stopped: %v, want close 1001", err)
		}
	}
}

func TestStreamRefusesOtherSites(t *testing.T) {
	srv, _ := dashboardServer(t)
	h := http.Header{"Origin": {"http://evil.example"}}
	_, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/api/stream", h)
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("a page of another site opened the stream: %v %v", err, resp)
	}
}
