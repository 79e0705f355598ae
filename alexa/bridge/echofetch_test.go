package bridge

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/web"
	"github.com/alexarules/alexarules/engine"
)

// A failed first fetch of the Echo devices is tried again after
// Options.Retry on the engine's clock, not the wall clock.
func TestTheEchoFetchIsRetriedOnTheEnginesClock(t *testing.T) {
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/devices-v2/device":
			if fetches.Add(1) == 1 {
				http.Error(w, `{"message":"no"}`, http.StatusForbidden)
				return
			}
			w.Write([]byte(`{"devices":[{"serialNumber":"S1","deviceType":"T1","accountName":"Kitchen Echo","deviceFamily":"ECHO","online":true,"capabilities":[]}]}`))
		case "/api/device-preferences":
			w.Write([]byte(`{"devicePreferences":[]}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	hosts, err := alexa.HostsFor("DE", srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	wc, err := web.New(web.Options{Hosts: hosts, Cookie: web.SimCookie})
	if err != nil {
		t.Fatal(err)
	}
	clock := engine.NewVirtual(time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC))
	b, err := New(Options{Web: wc, Clock: clock, Store: &mapStore{kv: map[string][]byte{}}, Publish: func(engine.Event) {},
		Retry: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	b.refreshEchos(ctx, &wg)
	if fetches.Load() != 1 || b.knownEcho("S1") {
		t.Fatalf("first fetch: %d fetches, Echo known %v", fetches.Load(), b.knownEcho("S1"))
	}
	deadline := time.Now().Add(10 * time.Second)
	for !b.knownEcho("S1") {
		if time.Now().After(deadline) {
			t.Fatalf("the Echo fetch was not retried a minute later on the virtual clock (%d fetches)", fetches.Load())
		}
		clock.Advance(10 * time.Second)
		time.Sleep(time.Millisecond)
	}
}
