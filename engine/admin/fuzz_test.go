package admin_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/admin"
	"github.com/alexarules/alexarules/engine/store"
)

// FuzzPublish drives POST /api/events with any body and GET /api/events
// and /api/runs with any query. Invariants: no panic; no 5xx but an
// overload answer with Retry-After; every answer is JSON; a refusal is a
// 4xx whose error names the request or the parameter; 202 only for a body
// that is one JSON object with a non-blank "name" (and "data" an object or
// null), and then the engine got exactly that event.
func FuzzPublish(f *testing.F) {
	for _, s := range [][2]string{
		{`{"name":"doorbell"}`, ""},
		{`{"name":"x","data":{"a":1,"b":"s","c":[true,null],"d":{"e":1.5e3}}}`, "limit=1"},
		{`{"name":"x","data":null}`, "limit=10000"},
		{`{"data":{}}`, "limit=0"},
		{`{"name":"x","extra":1}`, "limit=x"},
		{`{"name":"x"} {"name":"y"}`, "rule=r&limit=5"},
		{`{"name":" "}`, "limit=-1"},
		{`{"name":"x","data":[1]}`, "limit=%zz"},
		{`not json`, "limit=10001"},
		{`null`, "limit=1&limit=2"},
	} {
		f.Add([]byte(s[0]), s[1])
	}
	st, err := store.Open(filepath.Join(f.TempDir(), "a.db"), store.Options{JournalSize: 100})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	var (
		mu   sync.Mutex
		last *engine.Event
	)
	e := engine.New(engine.Config{Store: st, OnEvent: func(ev engine.Event) {
		mu.Lock()
		last = &ev
		mu.Unlock()
	}})
	h := (&admin.Server{Engine: e, Store: st}).Handler()
	f.Fuzz(func(t *testing.T, body []byte, query string) {
		mu.Lock()
		last = nil
		mu.Unlock()
		rec := serve(t, h, httptest.NewRequest("POST", "/api/events", bytes.NewReader(body)), "POST /api/events")
		mu.Lock()
		got := last
		mu.Unlock()
		checkPublished(t, body, rec.Code, got)
		for _, path := range []string{"/api/events", "/api/runs"} {
			req := httptest.NewRequest("GET", path, nil)
			req.URL.RawQuery = query
			rec := serve(t, h, req, "limit")
			if rec.Code == http.StatusOK && !strings.HasPrefix(rec.Body.String(), "[") {
				t.Fatalf("GET %s?%s: 200 %s, want a list", path, query, rec.Body)
			}
		}
	})
}

// serve runs one request and checks what every answer must be: JSON, no
// 5xx, and a 4xx error that mentions what.
func serve(t *testing.T, h http.Handler, req *http.Request, what string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	// Overload answers (429, 503) are documented and say when to retry.
	overload := (rec.Code == http.StatusTooManyRequests || rec.Code == http.StatusServiceUnavailable) &&
		rec.Header().Get("Retry-After") != ""
	if rec.Code >= 500 && !overload || !json.Valid(rec.Body.Bytes()) {
		t.Fatalf("%s %s: %d %s", req.Method, req.URL, rec.Code, rec.Body)
	}
	if rec.Code >= 400 {
		var e struct{ Error string }
		if json.Unmarshal(rec.Body.Bytes(), &e) != nil || !strings.Contains(e.Error, what) {
			t.Fatalf("%s %s: %d %s; want an error naming %s", req.Method, req.URL, rec.Code, rec.Body, what)
		}
	}
	return rec
}

// checkPublished compares the answer and the published event with an
// independent reading of the body.
func checkPublished(t *testing.T, body []byte, code int, got *engine.Event) {
	t.Helper()
	name, data, valid := expectedEvent(body)
	switch {
	case code == http.StatusAccepted && !valid:
		t.Fatalf("202 for %q", body)
	case code != http.StatusAccepted && valid && len(body) <= 1<<20 &&
		code != http.StatusTooManyRequests && code != http.StatusServiceUnavailable:
		t.Fatalf("%d for the valid event %q", code, body)
	case code != http.StatusAccepted && got != nil:
		t.Fatalf("%d, but the engine got %+v", code, got)
	case code == http.StatusAccepted && (got == nil || got.Name != name || got.Kind != engine.KindCustom ||
		!reflect.DeepEqual(got.Data, data)):
		t.Fatalf("body %q: published %+v; want name %q data %v", body, got, name, data)
	}
}

// expectedEvent reads a body the way the API documents it: one JSON
// object with the fields name (non-blank string) and data (object or
// null), nothing else. Field names match as encoding/json matches them
// (case-insensitively, in order: a later "name" wins, a later "data"
// object adds to an earlier one).
func expectedEvent(body []byte) (string, map[string]any, bool) {
	var fields map[string]json.RawMessage
	if !json.Valid(body) || json.Unmarshal(body, &fields) != nil || fields == nil {
		return "", nil, false
	}
	var name string
	var data map[string]any
	for _, k := range orderedKeys(body) {
		v := fields[k]
		switch {
		case strings.EqualFold(k, "name"):
			if json.Unmarshal(v, &name) != nil {
				return "", nil, false
			}
		case strings.EqualFold(k, "data"):
			if json.Unmarshal(v, &data) != nil {
				return "", nil, false
			}
		default:
			return "", nil, false
		}
	}
	return name, data, strings.TrimSpace(name) != ""
}

// orderedKeys lists an object's keys in the order they appear.
func orderedKeys(body []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(body))
	_, _ = dec.Token() // {
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return keys
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return keys
		}
	}
	return keys
}
