package features_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/features"
	"github.com/alexarules/alexarules/alexa/push"
	"github.com/alexarules/alexarules/alexa/sim"
	"github.com/alexarules/alexarules/alexa/web"
)

// calls records what the clients' Observe option was told.
type calls struct {
	mu   sync.Mutex
	seen map[string]int // "api result" → requests
	kick chan struct{}
}

func newCalls() *calls { return &calls{seen: map[string]int{}, kick: make(chan struct{}, 1)} }

func (c *calls) observe(api, result string, d time.Duration) {
	c.mu.Lock()
	if d > 0 {
		c.seen[api+" "+result]++
	}
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *calls) count(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen[key]
}

// await waits until key was seen at least once.
func (c *calls) await(t *testing.T, key string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for c.count(key) == 0 {
		select {
		case <-c.kick:
		case <-deadline:
			c.mu.Lock()
			defer c.mu.Unlock()
			t.Fatalf("no %q request observed; saw %v", key, c.seen)
		}
	}
}

func startSim(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- sim.New(sim.DemoHousehold(), sim.Options{}).ListenAndServe(ctx, "127.0.0.1:0", func(a string) { ready <- a })
	}()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case a := <-ready:
		return "http://" + a
	case err := <-done:
		t.Fatalf("sim: %v", err)
		return ""
	}
}

// Every Amazon API family reports each request, with its result class,
// to the one Observe hook the host gives the clients.
func TestEveryAPIFamilyObservesItsRequests(t *testing.T) {
	url := startSim(t)
	ctx := t.Context()
	obs := newCalls()
	c, tokens, err := features.NewFromConfig(ctx, alexa.Config{Cloud: url}, nil, features.ClientOptions{Observe: obs.observe})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Endpoints(ctx); err != nil {
		t.Fatal(err)
	}
	var apiErr *features.APIError
	if err := c.SetBrightness(ctx, "amzn1.alexa.endpoint.nope", 10); !errors.As(err, &apiErr) || apiErr.Status != 404 {
		t.Fatalf("unknown endpoint: %v", err)
	}
	hosts, err := alexa.HostsFor("US", url)
	if err != nil {
		t.Fatal(err)
	}
	wc, err := web.New(web.Options{Hosts: hosts, Cookie: web.SimCookie, Observe: obs.observe})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wc.Echos(ctx); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	h2 := push.NewHTTP2(push.HTTP2Options{BaseURL: hosts.Push, Observe: obs.observe,
		Token: func(context.Context, bool) (string, error) {
			tok, err := tokens.Token()
			if err != nil {
				return "", err
			}
			return tok.AccessToken, nil
		}})
	wg.Go(func() { _ = h2.Run(runCtx, func(push.Push) {}, nil) })
	obs.await(t, "push 2xx")
	ws := push.NewWebsocket(push.WebsocketOptions{URL: hosts.PushGateway, Cookie: web.SimCookie, Observe: obs.observe})
	wg.Go(func() { _ = ws.Run(runCtx, func(push.Push) {}, nil) })
	obs.await(t, "push 1xx")

	for key, want := range map[string]int{"auth 2xx": 1, "features 2xx": 1, "features 4xx": 1, "web 2xx": 1} {
		if got := obs.count(key); got < want {
			t.Errorf("%q observed %d times, want at least %d", key, got, want)
		}
	}
}

// Each attempt of a retried call is observed, throttling apart from other
// client errors, and a request that got no answer is an error.
func TestObserveSeesEveryAttempt(t *testing.T) {
	_, srv := newFakeAPI(t, func(n int, w http.ResponseWriter, r *http.Request) {
		switch n {
		case 1:
			w.WriteHeader(http.StatusTooManyRequests)
		case 2:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		// 200 with no body: an update's success
	})
	obs := newCalls()
	sl := &sleeps{}
	c, err := features.NewClient(srv.URL, &staticTokens{}, features.ClientOptions{Observe: obs.observe, Sleep: sl.sleep})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.TurnOn(t.Context(), endpointID); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"features 429", "features 5xx", "features 2xx"} {
		if got := obs.count(key); got != 1 {
			t.Errorf("%q observed %d times, want 1", key, got)
		}
	}
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	c, err = features.NewClient(dead.URL, &staticTokens{}, features.ClientOptions{Observe: obs.observe, Sleep: sl.sleep})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.TurnOn(t.Context(), endpointID); err == nil {
		t.Fatal("a call to a closed server succeeded")
	}
	if got := obs.count("features error"); got != 1 {
		t.Errorf(`"features error" observed %d times, want 1`, got)
	}
}
