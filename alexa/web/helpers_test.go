package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/web"
)

// now is the tests' fixed clock: Friday 2026-03-20 10:00 UTC.
var now = time.Date(2026, 3, 20, 10, 0, 0, 0, time.UTC)

const nowMS = "1774000800000"

// request is what a fake server saw.
type request struct {
	Method, Path, Query, Body string
	Header                    http.Header
	ContentLength             int64
}

// fake is a raw httptest server answering "METHOD /path" routes and
// recording every request.
type fake struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	reqs   []request
	routes map[string]http.HandlerFunc
}

func newFake(t *testing.T, routes map[string]http.HandlerFunc) *fake {
	t.Helper()
	f := &fake{t: t, routes: routes}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, request{
		Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Body: string(body),
		Header: r.Header.Clone(), ContentLength: r.ContentLength,
	})
	h := f.routes[r.Method+" "+r.URL.EscapedPath()]
	f.mu.Unlock()
	if h == nil {
		f.t.Errorf("unexpected request %s %s", r.Method, r.URL.EscapedPath())
		http.Error(w, `{"message":"no such route"}`, http.StatusNotFound)
		return
	}
	h(w, r)
}

func (f *fake) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.reqs...)
}

// reply answers with status and body.
func reply(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// sequence answers the nth call with the nth handler, repeating the last.
func sequence(hs ...http.HandlerFunc) http.HandlerFunc {
	var mu sync.Mutex
	n := 0
	return func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		h := hs[min(n, len(hs)-1)]
		n++
		mu.Unlock()
		h(w, r)
	}
}

// sleeps records the back-off waits a client asked for.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// newClient returns a client for Germany whose web and list hosts are both
// f, with the simulator's cookie, the fixed clock and recorded sleeps.
func newClient(t *testing.T, f *fake, edit func(*web.Options)) (*web.Client, *sleeps) {
	t.Helper()
	hosts, err := alexa.HostsFor("DE", f.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	s := &sleeps{}
	o := web.Options{
		Hosts:  hosts,
		Cookie: web.SimCookie,
		Sleep:  s.sleep,
		Now:    func() time.Time { return now },
	}
	if edit != nil {
		edit(&o)
	}
	c, err := web.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}

// checkSession checks the headers every web API request carries.
func checkSession(t *testing.T, r request, webBase string) {
	t.Helper()
	want := map[string]string{
		"Cookie":          web.SimCookie,
		"Csrf":            "135792468",
		"User-Agent":      web.DefaultUserAgent,
		"Referer":         webBase + "/spa/index.html",
		"Origin":          webBase,
		"Accept-Language": "de-DE",
		"Accept":          "application/json; charset=utf-8",
		"Authorization":   "",
	}
	if r.Body != "" {
		want["Content-Type"] = "application/json; charset=UTF-8"
	} else {
		want["Content-Type"] = ""
	}
	for k, v := range want {
		if got := r.Header.Get(k); got != v {
			t.Errorf("%s %s: header %s = %q, want %q", r.Method, r.Path, k, got, v)
		}
	}
}

var berlinEcho = web.Echo{
	Serial:          "G090LF09643202VS",
	Type:            "A3S5BH2HU6VAYF",
	Name:            "Kitchen",
	Family:          "ECHO",
	Online:          true,
	Timezone:        "Europe/Berlin",
	SoftwareVersion: "649649820",
	Capabilities:    []string{"REMINDERS", "VOLUME_SETTING"},
}

func assertEqual(t *testing.T, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %#v\nwant %#v", got, want)
	}
}

func rawStrings(ms []json.RawMessage) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m)
	}
	return out
}
