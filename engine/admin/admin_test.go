package admin_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

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
