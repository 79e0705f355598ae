package features_test

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

	"github.com/alexarules/alexarules/alexa/features"
	"golang.org/x/oauth2"
)

const endpointID = "amzn1.alexa.endpoint.abc123"

// request is what the fake API saw.
type request struct {
	Method, Path, Query, Body string
	Header                    http.Header
}

// fakeAPI records every request and answers with respond(n, r), n counting
// from 1.
type fakeAPI struct {
	mu      sync.Mutex
	reqs    []request
	respond func(n int, w http.ResponseWriter, r *http.Request)
}

func newFakeAPI(t *testing.T, respond func(n int, w http.ResponseWriter, r *http.Request)) (*fakeAPI, *httptest.Server) {
	t.Helper()
	f := &fakeAPI{respond: respond}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, request{Method: r.Method, Path: r.URL.EscapedPath(), Query: r.URL.RawQuery, Body: string(body), Header: r.Header.Clone()})
	n := len(f.reqs)
	f.mu.Unlock()
	f.respond(n, w, r)
}

func (f *fakeAPI) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.reqs...)
}

// staticTokens hands out "access-N", N growing after each Invalidate.
type staticTokens struct {
	mu          sync.Mutex
	n           int
	invalidated []string
}

func (s *staticTokens) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return &oauth2.Token{AccessToken: "access-" + string(rune('1'+s.n)), TokenType: "bearer", Expiry: time.Now().Add(time.Hour)}, nil
}

func (s *staticTokens) Invalidate(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.invalidated = append(s.invalidated, tok)
	s.n++
}

// sleeps records the back-off waits instead of sleeping.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.d = append(s.d, d)
	return ctx.Err()
}

func (s *sleeps) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

func newClient(t *testing.T, base string, opts features.ClientOptions) (*features.Client, *sleeps) {
	t.Helper()
	sl := &sleeps{}
	if opts.Sleep == nil {
		opts.Sleep = sl.sleep
	}
	c, err := features.NewClient(base, &staticTokens{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c, sl
}

func jsonEqual(t *testing.T, got, want string) bool {
	t.Helper()
	if got == "" || want == "" {
		return got == want
	}
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Errorf("body %q is not JSON: %v", got, err)
		return false
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want %q is not JSON: %v", want, err)
	}
	return reflect.DeepEqual(g, w)
}
