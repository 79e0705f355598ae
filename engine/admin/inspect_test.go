package admin_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/admin"
	"github.com/alexarules/alexarules/engine/store"
)

// inspectServer serves a store holding one rule's state and two rules'
// timers, a Next that knows rule "r", and a Feed.
func inspectServer(t *testing.T) (*httptest.Server, *admin.Feed) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "a.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	due := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if err := st.Commit(engine.Commit{Trace: engine.Trace{ID: "1", Rule: "r", Started: due, Outcome: engine.OutcomeOK},
		Rule: "r", RuleState: json.RawMessage(`{"n":3}`), PutTimers: []engine.TimerRecord{
			{ID: "r/a", Rule: "r", Handler: "a", Due: due}, {ID: "s/b", Rule: "s", Handler: "b", Due: due}}}); err != nil {
		t.Fatal(err)
	}
	feed := &admin.Feed{}
	next := func(rule string, from time.Time, n int) (admin.NextReport, error) {
		if rule != "r" {
			return admin.NextReport{}, fmt.Errorf("%w %q", admin.ErrUnknownRule, rule)
		}
		return admin.NextReport{Rule: rule, From: from, Fires: []admin.NextFire{{Time: from.Add(time.Hour), Trigger: fmt.Sprint(n)}}}, nil
	}
	srv := httptest.NewServer((&admin.Server{Engine: engine.New(engine.Config{Store: st}), Store: st, Next: next, Feed: feed}).Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(feed.Close) // before srv.Close: a stream would hold it
	return srv, feed
}

func TestInspectRoutes(t *testing.T) {
	srv, _ := inspectServer(t)
	for _, tc := range []struct {
		path   string
		status int
		want   string
	}{
		{"/api/rules/r/state", 200, `"n": 3`},
		{"/api/rules/nope/state", 404, `no such rule \"nope\"`},
		{"/api/timers", 200, `"s/b"`},
		{"/api/timers?rule=s", 200, `"handler": "b"`},
		{"/api/timers?rule=none", 200, `[]`},
		{"/api/rules/r/next?count=3&from=2026-03-29T00:00:00%2B01:00", 200, `"time": "2026-03-29T01:00:00+01:00"`},
		{"/api/rules/r/next?count=3", 200, `"trigger": "3"`},
		{"/api/rules/r/next", 200, `"trigger": "10"`},
		{"/api/rules/r/next?count=0", 400, "count: a whole number from 1 to 1000"},
		{"/api/rules/r/next?from=tomorrow", 400, "from: an RFC 3339 time"},
		{"/api/rules/nope/next", 404, `no such rule`},
	} {
		status, body := do(t, "GET", srv.URL+tc.path, "")
		if status != tc.status || !strings.Contains(body, tc.want) {
			t.Errorf("GET %s: %d %s, want %d with %q", tc.path, status, body, tc.status, tc.want)
		}
	}
	if _, body := do(t, "GET", srv.URL+"/api/timers?rule=s", ""); strings.Contains(body, `"r/a"`) {
		t.Errorf("?rule=s lists r's timer: %s", body)
	}
}

// TestEventsStream: a subscriber gets each published event as one SSE
// message, is told how many it lost when it fell behind, and its stream
// ends when the feed closes.
func TestEventsStream(t *testing.T) {
	srv, feed := inspectServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/api/events/stream", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	// Headers come once the subscriber is registered: nothing is missed.
	for i := range 300 { // more than a subscriber's queue: some are dropped
		feed.Publish(engine.EventRecord{ID: fmt.Sprint(i), Kind: engine.KindCustom, Name: "e"})
	}
	sc := bufio.NewScanner(resp.Body)
	var got, dropped int
	for sc.Scan() && got+dropped < 300 {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "data: {\"dropped\""):
			var d struct{ Dropped int }
			_ = json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &d)
			dropped += d.Dropped
		case strings.HasPrefix(line, "data: "):
			var ev engine.EventRecord
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev); err != nil || ev.Name != "e" {
				t.Fatalf("message %q: %v", line, err)
			}
			got++
		}
	}
	if got+dropped != 300 || got < 256 {
		t.Errorf("got %d events, %d reported dropped; want 300 in all, at least the queue's 256 delivered", got, dropped)
	}
	feed.Close()
	for sc.Scan() {
	}
	if err := sc.Err(); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("stream after Close: %v", err)
	}
	if ctx.Err() != nil {
		t.Error("the stream did not end when the feed closed")
	}
}
