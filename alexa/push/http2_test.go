package push_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/push"
)

const delimiter = "--" + fixtureBoundary + "\r\n"

// h2cServer serves handler over HTTP/2 without TLS, as the simulator does.
func h2cServer(t *testing.T, handler http.HandlerFunc) *httptest.Server {
	t.Helper()
	s := httptest.NewUnstartedServer(handler)
	s.Config.Protocols = new(http.Protocols)
	s.Config.Protocols.SetHTTP1(true)
	s.Config.Protocols.SetUnencryptedHTTP2(true)
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// openStream checks the request and starts the multipart response.
func openStream(t *testing.T, w http.ResponseWriter, r *http.Request) *http.ResponseController {
	t.Helper()
	if r.ProtoMajor != 2 {
		t.Errorf("request over %s, want HTTP/2", r.Proto)
	}
	if r.Method != http.MethodGet || r.URL.Path != push.DirectivesPath {
		t.Errorf("request %s %s", r.Method, r.URL.Path)
	}
	w.Header().Set("Content-Type", "multipart/related; boundary="+fixtureBoundary+"; type=application/json")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	write(t, w, rc, delimiter)
	return rc
}

// write sends s as one DATA frame.
func write(t *testing.T, w http.ResponseWriter, rc *http.ResponseController, s string) {
	if _, err := w.Write([]byte(s)); err != nil {
		t.Errorf("write: %v", err)
	}
	if err := rc.Flush(); err != nil {
		t.Errorf("flush: %v", err)
	}
}

func part(body []byte) string {
	return "Content-Type: application/json\r\n\r\n" + string(body) + "\r\n" + delimiter
}

// recorder collects what a source hands to the caller.
type recorder struct {
	pushes    chan push.Push
	connected chan struct{}
}

func newRecorder() *recorder {
	return &recorder{pushes: make(chan push.Push, 100), connected: make(chan struct{}, 100)}
}

func (r *recorder) handle(p push.Push) { r.pushes <- p }
func (r *recorder) conn()              { r.connected <- struct{}{} }

func (r *recorder) waitConnected(t *testing.T) {
	t.Helper()
	select {
	case <-r.connected:
	case <-time.After(30 * time.Second): // a hang guard, not a timing assertion
		t.Fatal("never connected")
	}
}

// waitStreamed waits until a handler has flushed the stream's first
// delimiter: a test that cancels the source earlier races that flush,
// which then fails with "stream closed".
func waitStreamed(t *testing.T, streamed <-chan struct{}) {
	t.Helper()
	select {
	case <-streamed:
	case <-time.After(30 * time.Second): // a hang guard, not a timing assertion
		t.Fatal("the stream never opened")
	}
}

func (r *recorder) waitPushes(t *testing.T, n int) []push.Push {
	t.Helper()
	var got []push.Push
	for range n {
		select {
		case p := <-r.pushes:
			got = append(got, p)
		case <-time.After(30 * time.Second):
			t.Fatalf("got %d pushes, want %d", len(got), n)
		}
	}
	return got
}

func commands(pushes []push.Push) []string {
	var c []string
	for _, p := range pushes {
		c = append(c, p.Command)
	}
	return c
}

// start runs src until the test ends and returns Run's result channel.
func start(t *testing.T, ctx context.Context, src push.Source, rec *recorder) <-chan error {
	t.Helper()
	done := make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		done <- src.Run(ctx, rec.handle, rec.conn)
		close(finished)
	}()
	t.Cleanup(func() {
		select {
		case <-finished:
		case <-time.After(30 * time.Second):
			t.Error("Run did not return after its context ended")
		}
	})
	return done
}

func waitDone(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

// sleeps records the delays a source asks for and returns at once.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
	on func(n int) // called with the count so far, outside the lock
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	n := len(s.d)
	s.mu.Unlock()
	if s.on != nil {
		s.on(n)
	}
	return ctx.Err()
}

func (s *sleeps) get() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.d)
}

func staticToken(context.Context, bool) (string, error) { return "token", nil }

func TestHTTP2StreamsDeduplicatesAndReconnects(t *testing.T) {
	var chunks []string
	for i := range 4 {
		chunks = append(chunks, string(fixture(t, fmt.Sprintf("http2_downchannel_chunk%d_SYNTHETIC.txt", i))))
	}
	newItem := map[string]any{"listId": "TElTVA==", "listItemId": "bf3163ba-44d0-476d-8576-a84f4f02de3f", "version": 2, "eventName": "itemUpdated"}
	var conns atomic.Int32
	srv := h2cServer(t, func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Authorization"); got != "Bearer token" {
			t.Errorf("Authorization %q", got)
		}
		switch conns.Add(1) {
		case 1:
			rc := openStream(t, w, r)
			for _, c := range chunks[1:] { // the fixture's DATA frames, one part each
				write(t, w, rc, c)
			}
			write(t, w, rc, chunks[3][:100]) // the same notification again, split over two frames
			write(t, w, rc, chunks[3][100:])
			write(t, w, rc, part(directive(t, "u1", "PUSH_SOMETHING_NEW", map[string]any{}, 1)))
			write(t, w, rc, part([]byte("{not json")))
			write(t, w, rc, part([]byte(`{"directive":{"payload":{"renderingUpdates":[{"resourceMetadata":"{\"command\":\"PUSH_X\",\"payload\":\"{\\\"x\\\":\\\"`+strings.Repeat("x", 4096)+`\\\"}\"}"}]}}}`)))
			write(t, w, rc, delimiter) // keep-alive
			// The handler returns: the stream ends, as after a GOAWAY.
		case 2:
			rc := openStream(t, w, r)
			write(t, w, rc, part(directive(t, "m2", "PUSH_LIST_ITEM_CHANGE", newItem, nil)))
			<-r.Context().Done()
		default:
			t.Errorf("unexpected connection %d", conns.Load())
		}
	})
	var backoffs []int
	var mu sync.Mutex
	sl := &sleeps{}
	src := push.NewHTTP2(push.HTTP2Options{
		BaseURL:     srv.URL,
		Token:       staticToken,
		MaxPartSize: 2048,
		Backoff: func(n int) time.Duration {
			mu.Lock()
			backoffs = append(backoffs, n)
			mu.Unlock()
			return time.Duration(n+1) * time.Second
		},
		Sleep: sl.sleep,
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	rec := newRecorder()
	done := start(t, ctx, src, rec)

	rec.waitConnected(t)
	first := rec.waitPushes(t, 3)
	if want := fixtureCommands; !slices.Equal(commands(first), want) {
		t.Fatalf("commands %v, want %v", commands(first), want)
	}
	rec.waitConnected(t) // after the drop: the caller re-syncs here
	second := rec.waitPushes(t, 1)
	if second[0].Command != "PUSH_LIST_ITEM_CHANGE" || second[0].Key == first[1].Key {
		t.Fatalf("after reconnect: %+v", second[0])
	}
	if err := src.LastError(); err != nil {
		t.Errorf("LastError while connected: %v", err)
	}
	cancel()
	waitDone(t, done)

	want := push.Stats{Delivered: 4, Unknown: 1, Malformed: 2, Duplicates: 1, Reconnects: 1, KeepAlives: 1}
	if got := src.Stats(); got != want {
		t.Errorf("stats %+v\nwant  %+v", got, want)
	}
	if got := sl.get(); !slices.Equal(got, []time.Duration{time.Second}) {
		t.Errorf("sleeps %v, want [1s]", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(backoffs, []int{0}) {
		t.Errorf("backoff attempts %v", backoffs)
	}
	select {
	case p := <-rec.pushes:
		t.Errorf("extra push %+v", p)
	default:
	}
}

// fakeClock is a Now that tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestHTTP2BackoffResetsAfterHealthyConnection(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lived time.Duration // how long the third connection stays open
		want  []int
	}{
		{"healthy", 2 * time.Minute, []int{0, 1, 0, 1}},
		{"short-lived", time.Second, []int{0, 1, 2, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			var conns atomic.Int32
			srv := h2cServer(t, func(w http.ResponseWriter, r *http.Request) {
				if conns.Add(1) != 3 {
					http.Error(w, "unavailable", http.StatusServiceUnavailable)
					return
				}
				openStream(t, w, r)
				clock.Advance(tc.lived)
			})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var mu sync.Mutex
			var attempts []int
			src := push.NewHTTP2(push.HTTP2Options{
				BaseURL: srv.URL,
				Token:   staticToken,
				Now:     clock.Now,
				Backoff: func(n int) time.Duration {
					mu.Lock()
					defer mu.Unlock()
					attempts = append(attempts, n)
					return push.DefaultBackoff(n)
				},
				Sleep: (&sleeps{on: func(n int) {
					if n == 4 {
						cancel()
					}
				}}).sleep,
			})
			rec := newRecorder()
			waitDone(t, start(t, ctx, src, rec))
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(attempts, tc.want) {
				t.Errorf("backoff attempts %v, want %v", attempts, tc.want)
			}
			var se *push.StatusError
			if err := src.LastError(); !errors.As(err, &se) || se.Code != http.StatusServiceUnavailable {
				t.Errorf("LastError %v", err)
			}
		})
	}
}

// tokens is a Token func whose refreshed token differs from the stale one.
type tokens struct {
	mu        sync.Mutex
	calls     []bool
	refreshed bool
}

func (k *tokens) token(_ context.Context, force bool) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.calls = append(k.calls, force)
	if force {
		k.refreshed = true
	}
	if k.refreshed {
		return "fresh", nil
	}
	return "stale", nil
}

func (k *tokens) forced() []bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.Clone(k.calls)
}

func TestHTTP2RefreshesRejectedTokenOnce(t *testing.T) {
	streamed := make(chan struct{}, 1)
	srv := h2cServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer fresh" {
			http.Error(w, "expired", http.StatusUnauthorized)
			return
		}
		openStream(t, w, r)
		streamed <- struct{}{}
		<-r.Context().Done()
	})
	tok := &tokens{}
	sl := &sleeps{}
	src := push.NewHTTP2(push.HTTP2Options{BaseURL: srv.URL, Token: tok.token, Sleep: sl.sleep})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	rec := newRecorder()
	done := start(t, ctx, src, rec)
	rec.waitConnected(t)
	waitStreamed(t, streamed)
	cancel()
	waitDone(t, done)
	if got := tok.forced(); !slices.Equal(got, []bool{false, true}) {
		t.Errorf("Token calls (forceRefresh) %v, want [false true]", got)
	}
	if got := sl.get(); len(got) != 0 {
		t.Errorf("slept %v before the retry with a fresh token", got)
	}
}

func TestHTTP2ReauthRequired(t *testing.T) {
	streamed := make(chan struct{}, 1)
	var accept atomic.Bool
	srv := h2cServer(t, func(w http.ResponseWriter, r *http.Request) {
		if !accept.Load() {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		openStream(t, w, r)
		streamed <- struct{}{}
		<-r.Context().Done()
	})
	tok := &tokens{}
	var lastErr atomic.Pointer[error]
	var src *push.HTTP2
	sl := &sleeps{on: func(int) {
		err := src.LastError()
		lastErr.Store(&err)
		accept.Store(true) // the user logs in again
	}}
	src = push.NewHTTP2(push.HTTP2Options{BaseURL: srv.URL, Token: tok.token, Sleep: sl.sleep, ReauthRetry: 7 * time.Minute})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	rec := newRecorder()
	done := start(t, ctx, src, rec)
	rec.waitConnected(t) // the source kept trying and recovered without a restart
	waitStreamed(t, streamed)
	cancel()
	waitDone(t, done)

	err := *lastErr.Load()
	if !errors.Is(err, push.ErrReauthRequired) || !strings.Contains(err.Error(), "re-authentication required") {
		t.Errorf("LastError after two rejections: %v", err)
	}
	if got := tok.forced(); !slices.Equal(got, []bool{false, true, false}) {
		t.Errorf("Token calls (forceRefresh) %v, want [false true false]", got)
	}
	if got := sl.get(); !slices.Equal(got, []time.Duration{7 * time.Minute}) {
		t.Errorf("sleeps %v, want the re-auth retry delay", got)
	}
	if err := src.LastError(); err != nil {
		t.Errorf("LastError after recovery: %v", err)
	}
}

func TestHTTP2RunRejectsBadOptions(t *testing.T) {
	for name, o := range map[string]push.HTTP2Options{
		"no token":    {BaseURL: "http://127.0.0.1:1"},
		"bad scheme":  {BaseURL: "ftp://example.com", Token: staticToken},
		"no host":     {BaseURL: "http://", Token: staticToken},
		"unparseable": {BaseURL: "http://[::1", Token: staticToken},
	} {
		if err := push.NewHTTP2(o).Run(t.Context(), func(push.Push) {}, nil); err == nil {
			t.Errorf("%s: Run accepted %+v", name, o)
		}
	}
}
