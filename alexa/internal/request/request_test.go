package request

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/internal/retry"
)

// tokenAuth is a bearer Authorizer whose token changes on Refused.
type tokenAuth struct {
	mu      sync.Mutex
	token   string
	refused int
}

func (a *tokenAuth) Authorize(_ context.Context, req *http.Request) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	req.Header.Set("Authorization", "Bearer "+a.token)
	return nil
}

func (a *tokenAuth) Refused(context.Context, *http.Request, int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.refused++
	a.token = "fresh-secret"
	return true
}

// script answers the i-th request with steps[i] (the last one repeats).
func script(t *testing.T, steps ...func(w http.ResponseWriter, r *http.Request)) (*httptest.Server, *int) {
	t.Helper()
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		i := min(n, len(steps)-1)
		n++
		mu.Unlock()
		steps[i](w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func status(code int, header, body string) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		if header != "" {
			k, v, _ := strings.Cut(header, ":")
			w.Header().Set(k, strings.TrimSpace(v))
		}
		w.WriteHeader(code)
		w.Write([]byte(body))
	}
}

type sleeps struct{ got []time.Duration }

func (s *sleeps) sleep(_ context.Context, d time.Duration) error {
	s.got = append(s.got, d)
	return nil
}

func newTestClient(s *sleeps, auth Authorizer, f Family) *Client {
	f.Policy = retry.Policy{Sleep: s.sleep, BaseBackoff: time.Second, MaxBackoff: 4 * time.Second}
	return New(f, Options{Auth: auth})
}

func TestRetriesHonourRetryAfterThenSucceed(t *testing.T) {
	srv, n := script(t, status(429, "Retry-After: 7", `{"type":"TOO_MANY"}`), status(503, "", ""), status(200, "", `{"ok":true}`))
	var s sleeps
	c := newTestClient(&s, nil, Family{Name: "features", Prefix: "alexa"})
	resp, err := c.Do(context.Background(), Request{Method: "GET", URL: srv.URL + "/v2/endpoints"})
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Body) != `{"ok":true}` || *n != 3 {
		t.Fatalf("body %q after %d requests", resp.Body, *n)
	}
	if want := []time.Duration{7 * time.Second, 2 * time.Second}; len(s.got) != 2 || s.got[0] != want[0] || s.got[1] != want[1] {
		t.Fatalf("slept %v, want %v", s.got, want)
	}
}

func TestRefusedCredentialsRenewedOnceThenFinal(t *testing.T) {
	var seen []string
	srv, _ := script(t, func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusUnauthorized)
	})
	sentinel := errors.New("log in again")
	auth := &tokenAuth{token: "old-secret"}
	var s sleeps
	c := newTestClient(&s, auth, Family{Name: "web", Prefix: "alexa web", Sentinel: sentinel})
	_, err := c.Do(context.Background(), Request{Method: "GET", URL: srv.URL + "/api/notifications?x=secret-query"})
	var e *Error
	if !errors.As(err, &e) || e.Status != 401 || !errors.Is(err, sentinel) {
		t.Fatalf("err = %v, want a 401 *Error wrapping the sentinel", err)
	}
	if auth.refused != 1 || len(seen) != 2 || seen[1] != "Bearer fresh-secret" {
		t.Fatalf("refused %d times, requests %v", auth.refused, seen)
	}
	if msg := err.Error(); strings.Contains(msg, "secret") || !strings.Contains(msg, "GET /api/notifications: 401") {
		t.Fatalf("message %q leaks a secret or misses the request", msg)
	}
}

func TestNotRetryableAndNoRetry(t *testing.T) {
	srv, n := script(t, status(400, "", `{"response":{"error":{"code":"InvalidToken","message":"Auth time of the token is expired."}}}`))
	var s sleeps
	c := newTestClient(&s, nil, Family{Name: "auth"})
	_, err := c.Do(context.Background(), Request{Method: "POST", URL: srv.URL + "/auth/register"})
	var e *Error
	if !errors.As(err, &e) || e.Type != "InvalidToken" || e.Message != "Auth time of the token is expired." || *n != 1 {
		t.Fatalf("err = %#v after %d requests", err, *n)
	}
	srv2, n2 := script(t, status(503, "", "down"))
	_, err = c.Do(context.Background(), Request{Method: "GET", URL: srv2.URL + "/x", NoRetry: true})
	if !errors.As(err, &e) || e.Retryable() != true || *n2 != 1 || e.Message != "down" {
		t.Fatalf("NoRetry: err = %v after %d requests", err, *n2)
	}
}

func TestParseBodyShapes(t *testing.T) {
	cases := []struct {
		body, header, typ, msg string
		throttled              bool
	}{
		{`{"type":"ENDPOINT_UNREACHABLE","message":"gone"}`, "", "ENDPOINT_UNREACHABLE", "gone", false},
		{`{"__type":"com.amazon#ThrottlingException","message":"slow"}`, "", "com.amazon#ThrottlingException", "slow", true},
		{`{"error":"invalid_grant","error_description":"dead"}`, "", "invalid_grant", "dead", false},
		{`<html>oops</html>`, "", "", "<html>oops</html>", false},
		{``, "ThrottlingException:http://x", "ThrottlingException", "", true},
	}
	for _, tc := range cases {
		e := &Error{Status: 400}
		h := http.Header{}
		if tc.header != "" {
			h.Set("X-Amzn-ErrorType", tc.header)
		}
		ParseBody(e, h, []byte(tc.body))
		if e.Type != tc.typ || e.Message != tc.msg || e.Throttled != tc.throttled {
			t.Errorf("%q: got type %q msg %q throttled %v", tc.body, e.Type, e.Message, e.Throttled)
		}
	}
}

func TestRecordSeesTheOutcome(t *testing.T) {
	srv, _ := script(t, status(404, "", `{"type":"NOT_FOUND"}`))
	var got []Call
	c := New(Family{Name: "features"}, Options{Record: func(_ context.Context, call Call) { got = append(got, call) }})
	_, err := c.Do(context.Background(), Request{Method: "GET", URL: srv.URL + "/v2/endpoints/x"})
	if err == nil || len(got) != 1 || got[0].Status != 404 || got[0].Path != "/v2/endpoints/x" || got[0].Err == nil {
		t.Fatalf("recorded %+v (err %v)", got, err)
	}
}

// A request that gets no answer names the method and path, never the
// query (its text would otherwise quote the whole URL).
func TestTransportErrorsDoNotQuoteTheQuery(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close() // nothing listens there now
	var s sleeps
	c := newTestClient(&s, nil, Family{Name: "web", Prefix: "alexa web"})
	_, err := c.Do(context.Background(), Request{Method: http.MethodGet, URL: base + "/api/things",
		Query: url.Values{"customerId": {"secret-id-123"}}})
	if err == nil || !strings.HasPrefix(err.Error(), "alexa web: GET /api/things: ") {
		t.Fatalf("err = %v, want it to name the request", err)
	}
	if strings.Contains(err.Error(), "secret-id-123") || strings.Contains(err.Error(), base) {
		t.Errorf("the error quotes the URL: %v", err)
	}
}

func TestJSONBodyEncodedWithItsContentType(t *testing.T) {
	var got []string
	srv, _ := script(t, func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 64)
		n, _ := r.Body.Read(b)
		got = append(got, r.Header.Get("Content-Type")+" "+string(b[:n]))
	})
	c := New(Family{Name: "web"}, Options{})
	ctx := context.Background()
	if _, err := c.Do(ctx, Request{Method: "PUT", URL: srv.URL + "/x", JSON: map[string]int{"a": 1}}); err != nil {
		t.Fatal(err)
	}
	h := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	if _, err := c.Do(ctx, Request{Method: "PUT", URL: srv.URL + "/x", JSON: []int{2}, Header: h}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(ctx, Request{Method: "PUT", URL: srv.URL + "/x", JSON: appender(`{"b":3}`)}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Do(ctx, Request{Method: "PUT", URL: srv.URL + "/bad", JSON: func() {}})
	want := []string{`application/json; charset=UTF-8 {"a":1}`, `application/json; charset=utf-8 [2]`,
		`application/json; charset=UTF-8 {"b":3}`}
	if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] ||
		err == nil || !strings.Contains(err.Error(), "PUT /bad: encode body") {
		t.Fatalf("got %q, err %v", got, err)
	}
}

// appender is a JSONAppender whose encoding is itself.
type appender string

func (a appender) AppendJSON(b []byte) []byte { return append(b, a...) }

// The default client's timeout bounds each attempt through the request's
// context: a server that never answers is cut off, and a retry gets its
// own time.
func TestDefaultClientTimeoutBoundsEachAttempt(t *testing.T) {
	release := make(chan struct{})
	srv, _ := script(t, status(503, "", ""), func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	s := &sleeps{}
	c := newTestClient(s, nil, Family{Name: "web"})
	if c.timeout != CallTimeout || c.hc.Timeout != 0 {
		t.Fatalf("default client: timeout %v, http.Client.Timeout %v; want %v in the context only", c.timeout, c.hc.Timeout, CallTimeout)
	}
	c.timeout = 50 * time.Millisecond
	_, err := c.Do(context.Background(), Request{Method: "GET", URL: srv.URL + "/hang"})
	if !errors.Is(err, context.DeadlineExceeded) || len(s.got) != 1 {
		t.Fatalf("err %v after %d retries; want the second attempt (after a 503) cut off by its deadline", err, len(s.got))
	}
}

// A context whose deadline comes before the timeout is used as it is; one
// without, or with a later one, gets the timeout.
func TestWithTimeoutKeepsANearerDeadline(t *testing.T) {
	near, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if ctx, stop := withTimeout(near, time.Minute); ctx != near {
		t.Fatal("a nearer deadline was replaced")
	} else {
		stop()
	}
	for _, parent := range []context.Context{context.Background(), near} {
		ctx, stop := withTimeout(parent, time.Millisecond)
		dl, ok := ctx.Deadline()
		stop()
		if !ok || ctx == parent || time.Until(dl) > time.Millisecond {
			t.Fatalf("deadline %v, %v; want one within 1ms", dl, ok)
		}
	}
}

// The debug line of each call names its family, method, path and status.
func TestDebugLogNamesTheCall(t *testing.T) {
	srv, _ := script(t, status(200, "", "{}"))
	var buf strings.Builder
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &buf}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := New(Family{Name: "web"}, Options{Logger: logger})
	if _, err := c.Do(context.Background(), Request{Method: "GET", URL: srv.URL + "/x?secret=1"}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	line := buf.String()
	for _, want := range []string{`msg="alexa request"`, "api=web", "method=GET", "path=/x", "status=200", "attempt=1"} {
		if !strings.Contains(line, want) || strings.Contains(line, "secret") {
			t.Fatalf("log %q; want %s and no query", line, want)
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
