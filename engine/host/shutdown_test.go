package host_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa/sim"
	"github.com/alexarules/alexarules/engine/host"
	"github.com/alexarules/alexarules/engine/store"
	"go.uber.org/goleak"
)

// An admin request still in flight when the host stops gets its real
// answer, and what it did is kept: the admin API stops before the engine
// and the store.
func TestShutdownLetsAdminRequestsInFlightFinish(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "r.lua", `return rule "r" { when = event "late", run = function(ctx) ctx.log.info("ran") end }`)
	data := filepath.Join(t.TempDir(), "s.db")
	r := startHost(t, host.Options{Config: host.Config{Rules: dir, Data: data}})

	// Expect: 100-continue makes the server tell when the handler starts
	// reading the body: the request is in flight from then on.
	body, send := io.Pipe()
	reading := make(chan struct{})
	answer := make(chan *http.Response, 1)
	go func() {
		trace := &httptrace.ClientTrace{Got100Continue: func() { close(reading) }}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "POST", r.base+"/api/events", body)
		req.Header.Set("Expect", "100-continue")
		resp, err := r.client.Do(req)
		if err != nil {
			t.Errorf("POST /api/events in flight: %v", err)
		}
		answer <- resp
	}()
	<-reading
	stopping := r.logs.logged("stopping")
	stopped := make(chan error, 1)
	go func() { stopped <- r.shutdown() }()
	select {
	case <-stopping: // the host waits for the request, its listener closing
		r.waitFor("the admin listener to close", func() bool {
			c, err := net.Dial("tcp", strings.TrimPrefix(r.base, "http://"))
			if err == nil {
				c.Close()
			}
			return err != nil
		})
	case err := <-stopped:
		t.Logf("the host stopped before the request finished: %v", err)
	}
	if _, err := send.Write([]byte(`{"name":"late","data":{"n":1}}`)); err != nil {
		t.Fatal(err)
	}
	send.Close()
	resp := <-answer
	if resp == nil {
		t.FailNow()
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("the request in flight: %d %s", resp.StatusCode, b)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("host.Run: %v", err)
	}
	st, err := store.Open(data, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evs, err := st.RecentEvents(10)
	if err != nil {
		t.Fatal(err)
	}
	var id struct{ ID string }
	if json.Unmarshal(b, &id) != nil || len(evs) == 0 || evs[0].ID != id.ID || evs[0].Name != "late" {
		t.Fatalf("the event accepted during shutdown is not journaled: %s, journal %+v", b, evs)
	}
}

// startSim serves the simulated cloud until the returned stop is called.
func startSim(t *testing.T) (url string, stop func()) {
	t.Helper()
	s := sim.New(sim.DemoHousehold(), sim.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan string, 1), make(chan error, 1)
	go func() { done <- s.ListenAndServe(ctx, "127.0.0.1:0", func(a string) { ready <- a }) }()
	select {
	case a := <-ready:
		url = "http://" + a
	case err := <-done:
		t.Fatalf("sim: %v", err)
	}
	return url, func() {
		cancel()
		<-done
	}
}

// A host connected to an account (poller, push, notification tracker)
// leaves no goroutine behind once Run returns, with either device backend;
// the smart-home one has discovered the devices again on its schedule.
func TestAStoppedHostLeavesNoGoroutines(t *testing.T) {
	for _, backend := range []string{host.DevicesFeatures, host.DevicesSmartHome} {
		t.Run(backend, func(t *testing.T) { stoppedHostLeavesNoGoroutines(t, backend) })
	}
}

func stoppedHostLeavesNoGoroutines(t *testing.T, backend string) {
	before := goleak.IgnoreCurrent()
	cloud, stopSim := startSim(t)
	dir := t.TempDir()
	write(t, dir, "r.lua", `return {
		rule "lamp" { when = event "on", run = function() device("Bedroom Lamp"):on() end },
		rule "warm" { when = reading { device = "Living Room Sensor", attr = "temperature", above = 25 }, run = function() end },
		rule "tick" { when = cron "@every 1s", run = function() end },
	}`)
	reload := make(chan struct{})
	cfg := host.Config{Rules: dir, Cloud: cloud, PollInterval: "1s", Devices: backend,
		Poll: host.PollConfig{RequestsPerMinute: 600}, SmartHome: host.SmartHomeConfig{Discovery: "200ms"}}
	r := startHost(t, host.Options{Config: cfg, Reload: reload, LoadErrors: func(err error) { t.Errorf("rule file: %v", err) }})
	if status, body := r.do("POST", "/api/events", `{"name":"on"}`); status != http.StatusAccepted {
		t.Fatalf("POST /api/events: %d %s", status, body)
	}
	r.waitFor("the lamp's run", func() bool {
		_, body := r.do("GET", "/api/runs?rule=lamp", "")
		return strings.Contains(body, `"outcome": "ok"`)
	})
	if backend == host.DevicesSmartHome {
		r.waitFor("three discoveries: at start and twice on the schedule", func() bool { return discoveries(t, cloud) >= 3 })
	}
	reload <- struct{}{}
	r.waitFor("the reload", func() bool { return r.health().Reload != nil })
	if err := r.shutdown(); err != nil {
		t.Fatalf("host.Run: %v", err)
	}
	// With the simulator still up, so that a push or poll loop that kept
	// going would be found; a goroutine ending right now (the store's
	// writer closes its done channel before it returns) gets a moment.
	left := hostGoroutines()
	for deadline := time.Now().Add(2 * time.Second); len(left) > 0 && time.Now().Before(deadline); left = hostGoroutines() {
		runtime.Gosched()
	}
	if len(left) > 0 {
		t.Fatalf("goroutines running the host's code after Run returned:\n%s", strings.Join(left, "\n\n"))
	}
	stopSim()
	goleak.VerifyNone(t, before) // it retries for a while: goroutines may still be ending
}

// discoveries counts the smart-home discovery queries the simulator at
// url has answered.
func discoveries(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url + "/_sim/requests")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var reqs []sim.Request
	if err := json.NewDecoder(resp.Body).Decode(&reqs); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, q := range reqs {
		if q.Path == "/nexus/v1/graphql" && q.Status == http.StatusOK && strings.Contains(string(q.Body), "CustomerSmartHome") {
			n++
		}
	}
	return n
}

// hostGoroutines lists the goroutines that run this module's code, other
// than the simulator's and the tests'.
func hostGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "github.com/alexarules/alexarules/") && !strings.Contains(g, "alexarules/alexa/sim.") &&
			!strings.Contains(g, "host_test.") {
			out = append(out, g)
		}
	}
	return out
}
