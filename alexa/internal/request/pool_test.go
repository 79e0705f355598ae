package request

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Under sustained concurrent load the default client reuses its
// connections: once every concurrent caller has had one, calls open
// (almost) no other. Go's default transport keeps 2 idle per host and
// closes and reopens the rest on every round: 1,433 of 1,600 calls opened a
// connection after the warm-up. Not exactly none: net/http puts a
// connection back into the pool on its own goroutine after the body is
// read, so a call made at that instant may dial a spare (which then stays
// in the pool); the warm-up rounds collect those spares.
func TestSustainedLoadOpensNoNewConnectionsAfterWarmUp(t *testing.T) {
	const callers, warmup, rounds = 32, 10, 50
	var opened, arrived atomic.Int64
	barrier := make(chan struct{})
	srv := countingServer(t, &opened, func() {
		// The first round's calls wait for each other: all 32 are in
		// flight at once, on 32 connections.
		if n := arrived.Add(1); n == callers {
			close(barrier)
		} else if n < callers {
			<-barrier
		}
	})
	c := New(Family{Name: "web"}, Options{})
	round := func() {
		var wg sync.WaitGroup
		for range callers {
			wg.Go(func() {
				if _, err := c.Do(context.Background(), Request{Method: "POST", URL: srv.URL + "/api/x", Body: []byte(`{}`)}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	for range warmup {
		round()
	}
	warm := opened.Load()
	if warm < callers || warm > 2*callers {
		t.Fatalf("warm-up opened %d connections for %d concurrent callers", warm, callers)
	}
	for range rounds {
		round()
	}
	// 1% of the calls at most; before the pool was sized, 90% opened one.
	if n := opened.Load() - warm; n > callers*rounds/100 {
		t.Fatalf("%d new connections after warm-up over %d calls; want (almost) none", n, callers*rounds)
	}
}

// The default client speaks HTTP/2 to a TLS host that offers it.
func TestDefaultClientNegotiatesHTTP2(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(r.Proto))
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	hc := NewHTTPClient()
	hc.Transport.(*http.Transport).TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	resp, err := New(Family{Name: "web"}, Options{HTTPClient: hc}).Do(context.Background(), Request{Method: "GET", URL: srv.URL + "/x"})
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Body) != "HTTP/2.0" {
		t.Fatalf("protocol %q; want HTTP/2.0", resp.Body)
	}
}

func TestPathOf(t *testing.T) {
	for raw, want := range map[string]string{
		"https://api.amazonalexa.com/v2/endpoints?owner=~caller": "/v2/endpoints",
		"https://host":                             "/",
		"https://host/":                            "/",
		"http://127.0.0.1:9/api/x#frag":            "/api/x",
		"https://host/v2/endpoints/a%2Fb/features": "/v2/endpoints/a/b/features",
		"/relative/path?q=1":                       "/relative/path",
		"https://host?next=/account/123":           "/",
		"https://host#/route":                      "/",
		"/a?redirect=https://other/b":              "/a",
	} {
		if got := pathOf(raw); got != want {
			t.Errorf("pathOf(%q) = %q; want %q", raw, got, want)
		}
	}
}

// More calls at once than PoolSize share PoolSize connections to a host
// that speaks HTTP/1.1: the others wait for one.
func TestCallsBeyondThePoolWaitForAConnection(t *testing.T) {
	const callers = PoolSize + 36
	var opened, arrived atomic.Int64
	release := make(chan struct{})
	srv := countingServer(t, &opened, func() {
		arrived.Add(1)
		<-release
	})
	c := New(Family{Name: "web"}, Options{})
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			if _, err := c.Do(context.Background(), Request{Method: "POST", URL: srv.URL + "/api/x", Body: []byte(`{}`)}); err != nil {
				t.Error(err)
			}
		})
	}
	for deadline := time.Now().Add(10 * time.Second); arrived.Load() < PoolSize; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d calls reached the server", arrived.Load(), PoolSize)
		}
	}
	close(release)
	wg.Wait()
	if n := opened.Load(); n > PoolSize {
		t.Fatalf("%d calls at once opened %d connections; want at most %d", callers, n, PoolSize)
	}
	if n := arrived.Load(); n != callers {
		t.Fatalf("%d of %d calls answered", n, callers)
	}
}

// countingServer serves HTTP/1.1, calling before each answer ({}), and
// counts the connections it accepts in opened.
func countingServer(t *testing.T, opened *atomic.Int64, before func()) *httptest.Server {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		before()
		w.Write([]byte(`{}`))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			opened.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}
