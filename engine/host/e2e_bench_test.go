package host_test

// The end-to-end benchmark of issue 13: events in over the admin API
// (POST /api/events), a rule that checks the name, computes seq % 100,
// formats a small JSON action and makes one Alexa call (Features
// setBrightness, or a web-API createReminder whose label is the JSON), out
// to a loopback sink answering like Amazon (e2e_load_test.go). Beside it,
// in the same run, a bare Go forwarder does the same work without the
// engine, so the ratio to the machine's limit is measured. docs/BENCHMARKS.md
// has the long form and its figures; TestEndToEndShort is the short form
// that runs with the package's tests.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine/enginetest"
	"github.com/alexarules/alexarules/engine/host"
)

var (
	e2eRate     = flag.Float64("e2e.rate", 1000, "events/s BenchmarkEndToEnd offers (0: closed loop)")
	e2eClients  = flag.Int("e2e.clients", 32, "concurrent senders of BenchmarkEndToEnd")
	e2eDuration = flag.Duration("e2e.duration", 10*time.Second, "measured time of each BenchmarkEndToEnd run")
	e2eWarmup   = flag.Duration("e2e.warmup", 2*time.Second, "warm-up before each BenchmarkEndToEnd measurement")
	e2eBacklog  = flag.Int("e2e.backlog", 0, "the engine's max_backlog in BenchmarkEndToEnd (0: its default)")
	e2eProcs    = flag.Bool("e2e.procs", true, "let the engine tune GOMAXPROCS to the load, as `alexarules run` does")
	e2eMaxProcs = flag.Int("e2e.gomaxprocs", 0, "GOMAXPROCS of the targets' process only, not of the load child (0: the default)")
	e2eMax      = flag.Int("e2e.max", 64, "the benchmark rule's max (runs at once, mode parallel) in the features and web forms")
	e2eSlices   = flag.Int("e2e.slices", 1, "measure the baseline and the engine alternately in this many slices of -e2e.duration/N each (1: one after the other)")
)

// e2eRules are the benchmark rule of each call kind.
var e2eRules = map[string]string{
	"features": `
		local action = string.format('{"seq":%d,"bucket":%d}', seq, bucket)
		device("Bench Lamp " .. (seq % 64)):set_brightness(bucket)`,
	"web": `
		local action = string.format('{"seq":%d,"bucket":%d}', seq, bucket)
		alexa.remind { device = "Bench Echo", text = action, ["in"] = "1h" }`,
}

// e2ePushRule takes the events of the push form: the Bench Echo's volume
// going above 50 (51 + seq % 50) names the lamp and its brightness.
const e2ePushRule = `return {
	rule "bench" { when = alexa.volume { device = "Bench Echo", above = 50 }, mode = "parallel", max = 64, run = function(ctx, ev)
		if ev.device.name ~= "Bench Echo" then return end
		local v = ev.value
		local bucket = v % 100
		local action = string.format('{"volume":%d,"bucket":%d}', v, bucket)
		device("Bench Lamp " .. (v % 64)):set_brightness(bucket)
	end },
}`

func e2eRule(kind string) string {
	if kind == "push" {
		return e2ePushRule
	}
	return `return {
	rule "bench" { when = event "bench", mode = "parallel", max = ` + strconv.Itoa(*e2eMax) + `, run = function(ctx, ev)
		if ev.name ~= "bench" then return end
		local seq = ev.data.seq
		local bucket = seq % 100` + e2eRules[kind] + `
	end },
}`
}

// loadChild is the child process serving the sink and driving the load.
type loadChild struct{ *enginetest.Child }

func startLoad(tb testing.TB) loadChild {
	return loadChild{enginetest.StartChild(tb, e2eChildEnv+"=1")}
}

// figures are one run's results: the child's view and the target
// process's cost.
type figures struct {
	loadResult
	CPU      time.Duration // of this process over the run
	Mallocs  uint64
	MaxRSS   int64 // bytes, highest VmRSS sampled during the run
	Duration time.Duration
}

func (f figures) delivered() float64 { return float64(f.MeasuredCalls) / f.Window.Seconds() }
func (f figures) perCall(v float64) float64 {
	return v / float64(max(f.Calls, 1))
}

// run has the child offer c's load to target and measures this process
// meanwhile.
func (c loadChild) run(tb testing.TB, cmd loadCommand) figures {
	tb.Helper()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	mallocs, cpu, start := ms.Mallocs, enginetest.CPUTime(), time.Now()
	rss := sampleRSS()
	line, _ := json.Marshal(cmd)
	if _, err := fmt.Fprintf(c.In, "%s\n", line); err != nil {
		tb.Fatal(err)
	}
	if !c.Out.Scan() {
		tb.Fatalf("load child: %v", c.Out.Err())
	}
	f := figures{CPU: enginetest.CPUTime() - cpu, Duration: time.Since(start), MaxRSS: rss()}
	runtime.ReadMemStats(&ms)
	f.Mallocs = ms.Mallocs - mallocs
	if err := json.Unmarshal(c.Out.Bytes(), &f.loadResult); err != nil || f.Err != "" {
		tb.Fatalf("load child: %v %s", err, f.Err)
	}
	return f
}

// sampleRSS reads this process's VmRSS every 100 ms until the returned
// function is called, which returns the highest.
func sampleRSS() func() int64 {
	stop, done := make(chan struct{}), make(chan int64)
	go func() {
		peak := vmRSS()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				done <- max(peak, vmRSS())
				return
			case <-t.C:
				peak = max(peak, vmRSS())
			}
		}
	}()
	return func() int64 { close(stop); return <-done }
}

func vmRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// startEngine runs the host on the benchmark rule of kind against the
// sink at cloud and returns its admin API's base URL.
func startEngine(tb testing.TB, cloud, kind string) string {
	tb.Helper()
	dir := tb.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bench.lua"), []byte(e2eRule(kind)), 0o644); err != nil {
		tb.Fatal(err)
	}
	cfg := host.Config{Rules: dir, Data: filepath.Join(tb.TempDir(), "h.db"), Admin: "127.0.0.1:0", Cloud: cloud,
		Push: "off", PollInterval: "1h", Devices: host.DevicesFeatures, MaxBacklog: *e2eBacklog}
	if kind == "push" {
		cfg.Push = "http2"
	}
	ready, done := make(chan string, 1), make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	o := host.Options{Config: cfg, AdminReady: func(a string) { ready <- a }, TuneProcs: *e2eProcs, Getenv: os.Getenv,
		Log:        slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		LoadErrors: func(err error) { tb.Errorf("rule file: %v", err) }}
	go func() { done <- host.Run(ctx, o) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("host.Run: %v", err)
		}
		// Goroutines ending just after Run (the heap guard's sampler
		// stops after a second idle) would be seen by the next test that
		// counts them (TestAStoppedHostLeavesNoGoroutines).
		for deadline := time.Now().Add(20 * time.Second); len(hostGoroutines()) > 0; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				tb.Errorf("goroutines left by the engine:\n%s", strings.Join(hostGoroutines(), "\n\n"))
				return
			}
		}
	})
	var base string
	select {
	case a := <-ready:
		base = "http://" + a
	case err := <-done:
		tb.Fatalf("host.Run: %v", err)
	}
	if kind == "push" {
		waitPushConnected(tb, cloud)
	}
	return base
}

// waitPushConnected waits until the engine's push connection to the
// simulator at cloud is up: a push reaches one client.
func waitPushConnected(tb testing.TB, cloud string) {
	tb.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; {
		resp, err := http.Post(cloud+"/_sim/push", "application/json",
			strings.NewReader(`{"command":"PUSH_EQUALIZER_STATE_CHANGE","payload":{}}`))
		if err != nil {
			tb.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), `"clients":1`) {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the engine's push connection did not come up: %s", body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startBaseline serves the bare Go forwarder: it decodes the event,
// checks the name, computes seq % 100, formats the JSON and makes the
// call on a sized keep-alive client, then answers 202.
func startBaseline(tb testing.TB, cloud, kind string) string {
	tb.Helper()
	f := &forwarder{cloud: cloud, kind: kind, client: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second}}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := &http.Server{Handler: f}
	go srv.Serve(ln)
	tb.Cleanup(func() { srv.Close(); f.client.CloseIdleConnections() })
	return "http://" + ln.Addr().String()
}

type forwarder struct {
	cloud, kind string
	client      *http.Client
}

func (f *forwarder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var ev struct {
		Name string `json:"name"`
		Data struct {
			Seq int64 `json:"seq"`
		} `json:"data"`
	}
	if err := json.NewDecoder(r.Body).Decode(&ev); err != nil || ev.Name != benchEvent {
		http.Error(w, "bad event", http.StatusBadRequest)
		return
	}
	seq, bucket := ev.Data.Seq, ev.Data.Seq%100
	action := fmt.Sprintf(`{"seq":%d,"bucket":%d}`, seq, bucket)
	if err := f.call(r.Context(), seq, bucket, action); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

func (f *forwarder) call(ctx context.Context, seq, bucket int64, action string) error {
	method, url := "POST", fmt.Sprintf("%s/v2/endpoints/%s%d/features/brightness/setBrightness", f.cloud, lampPrefix, seq%benchLamps)
	body, _ := json.Marshal(map[string]any{"payload": map[string]int64{"brightness": bucket}})
	if f.kind == "web" {
		at := time.Now().Add(time.Hour)
		method, url = "PUT", f.cloud+reminderPath
		body, _ = json.Marshal(map[string]any{"type": "Reminder", "status": "ON", "alarmTime": at.UnixMilli(),
			"originalTime": at.Format("15:04:05") + ".000", "originalDate": at.Format(time.DateOnly),
			"deviceSerialNumber": benchSerial, "deviceType": "A32DOYMUN6DTXA", "reminderLabel": action,
			"id": "createReminder", "createdDate": time.Now().UnixMilli()})
	}
	req, err := http.NewRequestWithContext(ctx, method, f.cloud+strings.TrimPrefix(url, f.cloud), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer baseline")
	resp, err := f.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 != 2 {
		return errors.New(resp.Status)
	}
	return nil
}

// e2eKinds are the benchmark's forms: events in over the admin API with a
// Features or a web-API call out, or in as pushes with a Features call out.
var e2eKinds = []string{"features", "web", "push"}

// e2eTargets start one target each; the engine's rule and the baseline's
// work differ only by who does them.
var e2eTargets = []struct {
	name  string
	start func(testing.TB, string, string) string
}{{"baseline", startBaseline}, {"engine", startEngine}}

// eachTarget calls run with every form and target it is measured on,
// named form/target; the baseline takes no pushes.
func eachTarget(run func(name, kind string, start func(testing.TB, string, string) string)) {
	for _, kind := range e2eKinds {
		for _, tg := range e2eTargets {
			if kind != "push" || tg.name != "baseline" {
				run(kind+"/"+tg.name, kind, tg.start)
			}
		}
	}
}

// BenchmarkEndToEnd runs each call kind against the baseline and then the
// engine, at -e2e.rate (0: closed loop with -e2e.clients), once each:
// run it with -benchtime 1x (docs/BENCHMARKS.md). With -e2e.slices N > 1
// it measures them alternately instead (alternating).
func BenchmarkEndToEnd(b *testing.B) {
	load := startLoad(b)
	if *e2eMaxProcs > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(*e2eMaxProcs))
	}
	if *e2eSlices > 1 {
		alternating(b, load)
		return
	}
	limit := map[string]float64{} // the baseline's delivered/s of each form
	eachTarget(func(name, kind string, start func(testing.TB, string, string) string) {
		b.Run(name, func(b *testing.B) {
			target := start(b, load.URL, kind)
			for range b.N {
				f := load.run(b, loadCommand{Target: target, Push: kind == "push", Rate: *e2eRate, Clients: *e2eClients,
					Warmup: *e2eWarmup, Duration: *e2eDuration})
				reportFigures(b, f)
				if strings.HasSuffix(name, "/baseline") {
					limit[kind] = f.delivered()
				} else if limit[kind] > 0 {
					b.ReportMetric(f.delivered()/limit[kind], "of-baseline")
				}
			}
		})
	})
}

// alternating measures each form's baseline and engine in -e2e.slices
// turns each, one after the other, both running meanwhile: the VM's speed
// drifts by a third within minutes, and this way both see the same drift.
// Each form reports the engine's figures with the baseline's beside them;
// p50 is the median of the slices' and p99 the highest.
func alternating(b *testing.B, load loadChild) {
	for _, kind := range e2eKinds {
		if kind == "push" {
			continue
		}
		b.Run(kind+"/alternating", func(b *testing.B) {
			targets := []string{startBaseline(b, load.URL, kind), startEngine(b, load.URL, kind)}
			for range b.N {
				var sum [2]figures
				var p50s [2][]time.Duration
				for i := range *e2eSlices {
					warmup := *e2eWarmup
					if i > 0 {
						warmup /= 4 // the targets are warm; the sender's connections are not
					}
					for t, target := range targets {
						f := load.run(b, loadCommand{Target: target, Rate: *e2eRate, Clients: *e2eClients,
							Warmup: warmup, Duration: *e2eDuration / time.Duration(*e2eSlices)})
						sum[t].add(f)
						p50s[t] = append(p50s[t], f.P50)
					}
				}
				for t := range sum {
					slices.Sort(p50s[t])
					sum[t].P50 = p50s[t][len(p50s[t])/2]
				}
				reportFigures(b, sum[1])
				base := sum[0]
				b.ReportMetric(base.delivered(), "baseline-delivered/s")
				b.ReportMetric(base.perCall(float64(base.CPU.Microseconds())), "baseline-cpu-µs/event")
				b.ReportMetric(base.perCall(float64(base.LoadCPU.Microseconds())), "baseline-load-cpu-µs/event")
				b.ReportMetric(float64(base.P99.Microseconds())/1000, "baseline-p99-ms")
				b.ReportMetric(sum[1].delivered()/base.delivered(), "of-baseline")
			}
		})
	}
}

// add sums g's counts and costs into f; P99 and MaxRSS take the highest.
func (f *figures) add(g figures) {
	f.Sent += g.Sent
	f.Accepted += g.Accepted
	f.Refused += g.Refused
	f.Failed += g.Failed
	f.Calls += g.Calls
	f.Unmatched += g.Unmatched
	f.MeasuredAccepted += g.MeasuredAccepted
	f.MeasuredCalls += g.MeasuredCalls
	f.Window += g.Window
	f.Conns += g.Conns
	f.NewConns += g.NewConns
	f.P99 = max(f.P99, g.P99)
	f.CPU += g.CPU
	f.Mallocs += g.Mallocs
	f.MaxRSS = max(f.MaxRSS, g.MaxRSS)
	f.Duration += g.Duration
	f.LoadCPU += g.LoadCPU
}

func reportFigures(b *testing.B, f figures) {
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(f.delivered(), "delivered/s")
	b.ReportMetric(float64(f.MeasuredAccepted)/f.Window.Seconds(), "accepted/s")
	b.ReportMetric(float64(f.P50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(f.P99.Microseconds())/1000, "p99-ms")
	b.ReportMetric(f.perCall(float64(f.CPU.Microseconds())), "cpu-µs/event")
	b.ReportMetric(f.perCall(float64(f.LoadCPU.Microseconds())), "load-cpu-µs/event")
	b.ReportMetric(f.perCall(float64(f.Mallocs)), "allocs/event")
	b.ReportMetric(float64(f.MaxRSS)/(1<<20), "rss-MiB")
	b.ReportMetric(float64(f.Refused), "refused")
	b.ReportMetric(float64(f.Accepted-f.Calls), "lost")
	b.ReportMetric(float64(f.Conns), "conns")
	b.ReportMetric(float64(f.NewConns), "new-conns")
}

// The short form of the benchmark: a second of load at a modest rate and a
// second in a closed loop, on both targets and every form (pushes: the
// rate only). Every event answered 202 made its call (none lost), none
// failed, and the engine's clients kept their connections to the sink.
func TestEndToEndShort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process and the engine four times")
	}
	load := startLoad(t)
	eachTarget(func(name, kind string, start func(testing.TB, string, string) string) {
		t.Run(name, func(t *testing.T) {
			target := start(t, load.URL, kind)
			rates := []float64{200, 0}
			if kind == "push" {
				// The push path tops out at a few hundred events/s
				// (docs/BENCHMARKS.md): a closed loop would queue
				// for many seconds.
				rates = []float64{100}
			}
			for _, rate := range rates {
				f := load.run(t, loadCommand{Target: target, Push: kind == "push", Rate: rate, Clients: 8, Warmup: 300 * time.Millisecond,
					Duration: time.Second})
				t.Logf("rate %v: sent %d accepted %d refused %d calls %d delivered %.0f/s p50 %v p99 %v cpu %.0f µs/event allocs %.0f/event conns %d (after warm-up %d)",
					rate, f.Sent, f.Accepted, f.Refused, f.Calls, f.delivered(), f.P50, f.P99,
					f.perCall(float64(f.CPU.Microseconds())), f.perCall(float64(f.Mallocs)), f.Conns, f.NewConns)
				checkFigures(t, f)
			}
		})
	})
}

// maxInFlight bounds the calls in flight at once: the rule's max
// (-e2e.max) and the engine's other clients (discovery, the notification
// tracker).
func maxInFlight() int64 { return int64(*e2eMax) + 8 }

func checkFigures(t *testing.T, f figures) {
	t.Helper()
	switch {
	case f.Accepted == 0:
		t.Fatalf("no event accepted: %+v", f.loadResult)
	case f.Failed != 0:
		t.Fatalf("%d events failed: %+v", f.Failed, f.loadResult)
	case f.Sent != f.Accepted+f.Refused:
		t.Fatalf("sent %d, accepted %d + refused %d: some got no answer", f.Sent, f.Accepted, f.Refused)
	case f.Calls != f.Accepted:
		t.Fatalf("%d events answered 202, %d calls made: lost %d", f.Accepted, f.Calls, f.Accepted-f.Calls)
	case f.Unmatched != 0:
		t.Fatalf("%d calls matched no event", f.Unmatched)
	case f.Conns > maxInFlight():
		t.Fatalf("%d connections to the sink for at most %d calls at once: connections are not kept", f.Conns, maxInFlight())
	}
}
