package poll_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/features"
	"github.com/alexarules/alexarules/alexa/sim"
	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/enginetest"
	"github.com/alexarules/alexarules/engine/poll"
)

// The scale benchmark (issue 5 item 3) polls a simulator running in a
// child process (this test binary again, see TestMain), so the CPU and
// memory measured in this process are the engine's side only: the poller,
// the Alexa client and its HTTP, and the store.

var benchDuration = flag.Duration("poll.duration", 30*time.Second, "how long BenchmarkPollSimulator polls at each size")

const simEnv = "ALEXARULES_POLL_BENCH_SIM" // endpoints of the child's household

func TestMain(m *testing.M) {
	if n := os.Getenv(simEnv); n != "" {
		os.Exit(serveSim(n))
	}
	os.Exit(m.Run())
}

// serveSim serves a simulated household of n endpoints on a loopback
// port, prints its URL and runs until stdin closes.
func serveSim(n string) int {
	count, err := strconv.Atoi(n)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	s := sim.New(benchHousehold(count), sim.Options{MaxRequests: 1})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("http://" + ln.Addr().String())
	go http.Serve(ln, s.Handler())
	io.Copy(io.Discard, os.Stdin)
	return 0
}

var benchAttrs = []string{"power", "brightness", "connectivity"}

func benchID(i int) string { return fmt.Sprintf("amzn1.alexa.endpoint.bench-%05d", i) }

// benchValue is what the simulator answers for attribute a of endpoint i.
func benchValue(i int, a string) any {
	switch a {
	case "power":
		return "ON"
	case "brightness":
		return float64(50 + i%50)
	}
	return "OK"
}

func benchHousehold(n int) sim.Household {
	eps := make([]sim.Endpoint, n)
	for i := range eps {
		power, bri, conn := "ON", 50+i%50, "OK"
		eps[i] = sim.Endpoint{ID: benchID(i), Name: fmt.Sprintf("Bench Light %d", i),
			Features: sim.Features{Power: &power, Brightness: &bri, Connectivity: &conn}}
	}
	return sim.Household{Endpoints: eps}
}

// startSim runs the simulator child and returns its URL.
func startSim(b *testing.B, endpoints int) string {
	b.Helper()
	return enginetest.StartChild(b, simEnv+"="+strconv.Itoa(endpoints)).URL
}

// stamping records when each read starts.
type stamping struct {
	r     poll.Reader
	mu    sync.Mutex
	times []time.Time
}

func (s *stamping) Get(ctx context.Context, endpointID, attr string) (any, error) {
	s.mu.Lock()
	s.times = append(s.times, time.Now())
	s.mu.Unlock()
	return s.r.Get(ctx, endpointID, attr)
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// preload stores the values the simulator will answer, as a previous run
// would have: the steady state, where reads find nothing changed.
func preload(b *testing.B, st engine.Store, endpoints int, since time.Time) {
	b.Helper()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range endpoints {
		for _, a := range benchAttrs {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				v, _ := json.Marshal(map[string]any{"endpoint": benchID(i), "attr": a, "value": benchValue(i, a), "since": since})
				if err := st.Put(poll.Bucket, benchID(i)+"/"+a, v); err != nil {
					b.Error(err)
				}
			})
		}
	}
	wg.Wait()
}

// BenchmarkPollSimulator is the scale benchmark: endpoints × 3 attributes
// asked for every 60 s within 100 requests/s, against the simulator over
// HTTP on the wall clock, for -poll.duration. "steady" starts from stored
// values equal to the simulator's (nothing changes); "first" from an
// empty store (every read is a first reading: an event and a write).
func BenchmarkPollSimulator(b *testing.B) {
	cases := []struct {
		endpoints int
		steady    bool
	}{{100, true}, {1000, true}, {10_000, true}, {10_000, false}}
	for _, c := range cases {
		name := fmt.Sprintf("endpoints=%d/first", c.endpoints)
		if c.steady {
			name = fmt.Sprintf("endpoints=%d/steady", c.endpoints)
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				benchSimulator(b, c.endpoints, c.steady)
			}
		})
	}
}

func benchSimulator(b *testing.B, endpoints int, steady bool) {
	const (
		rate        = 100
		concurrency = 16
		interval    = time.Minute
	)
	url := startSim(b, endpoints)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client, _, err := features.NewFromConfig(ctx, alexa.Config{Cloud: url}, nil, features.ClientOptions{
		// The poller owns retries and pacing: one attempt per read.
		MaxAttempts: 1,
		HTTPClient: &http.Client{Timeout: 30 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: concurrency}},
	})
	if err != nil {
		b.Fatal(err)
	}
	st := openStore(b, b.TempDir())
	defer st.Close()
	if steady {
		preload(b, st, endpoints, time.Now())
	}
	targets := make([]poll.Target, 0, 3*endpoints)
	for i := range endpoints {
		for _, a := range benchAttrs {
			targets = append(targets, poll.Target{EndpointID: benchID(i), Name: fmt.Sprintf("Bench Light %d", i), Attr: a})
		}
	}
	reader := &stamping{r: client, times: make([]time.Time, 0, int(benchDuration.Seconds()*rate*1.2))}
	var published atomic.Int64

	heap0 := heapInUse()
	p := poll.New(poll.Options{Reader: reader, Store: st, Publish: func(engine.Event) { published.Add(1) },
		Interval: interval, Rate: rate, Concurrency: concurrency, Logger: slog.New(slog.DiscardHandler)})
	p.SetTargets(targets)
	targets = nil
	done := make(chan error, 1)
	b.ResetTimer()
	start := time.Now()
	go func() { done <- p.Run(ctx) }()

	// Measure after the stored readings are loaded and the first slots came.
	warm := 3 * time.Second
	time.Sleep(warm)
	cpu0, req0, t0 := enginetest.CPUTime(), p.Stats().Requests, time.Now()
	time.Sleep(*benchDuration - warm)
	cpu1, req1, t1 := enginetest.CPUTime(), p.Stats().Requests, time.Now()
	heap1 := heapInUse()
	stats := p.Stats()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()

	wall := t1.Sub(t0)
	reader.mu.Lock()
	times := slices.Clone(reader.times)
	reader.mu.Unlock()
	slices.SortFunc(times, time.Time.Compare)
	var calls []call
	for _, t := range times {
		calls = append(calls, call{at: t})
	}
	achieved := float64(req1-req0) / wall.Seconds()
	demand := min(stats.Demand, rate)
	b.ReportMetric(achieved, "req/s")
	b.ReportMetric(100*achieved/demand, "%of-asked")
	b.ReportMetric(float64(maxInWindow(calls, time.Second)), "max-req/1s")
	b.ReportMetric(100*float64(cpu1-cpu0)/float64(wall), "%cpu")
	b.ReportMetric(float64(cpu1-cpu0)/float64(req1-req0)/1e3, "cpu-µs/req")
	b.ReportMetric(float64(int64(heap1)-int64(heap0))/float64(stats.Targets), "heap-B/attr")
	b.ReportMetric(stats.EffectiveInterval.Seconds(), "eff-interval-s")
	b.ReportMetric(stats.MaxLateness.Seconds()*1e3, "max-late-ms")
	b.ReportMetric(float64(published.Load()), "events")
	if stats.Errors > 0 || stats.Skipped > 0 {
		b.Errorf("%d errors, %d skipped in %v", stats.Errors, stats.Skipped, time.Since(start))
	}
}

// BenchmarkPollerOverhead is the poller's own cost per read (schedule,
// token bucket, goroutine, compare) with a reader that answers at once and
// values that do not change: 30,000 targets read as fast as the loop goes.
func BenchmarkPollerOverhead(b *testing.B) {
	const endpoints = 10_000
	values := map[string]any{}
	var targets []poll.Target
	for i := range endpoints {
		for _, a := range benchAttrs {
			values[benchID(i)+"/"+a] = benchValue(i, a)
			targets = append(targets, poll.Target{EndpointID: benchID(i), Attr: a})
		}
	}
	var reads atomic.Int64
	want := int64(b.N)
	reached := make(chan struct{})
	reader := readerFunc(func(_ context.Context, id, attr string) (any, error) {
		if reads.Add(1) == want {
			close(reached)
		}
		return values[id+"/"+attr], nil
	})
	p := poll.New(poll.Options{Reader: reader, Interval: 100 * time.Millisecond, Rate: 1e9, Burst: 1000, Concurrency: 64})
	p.SetTargets(targets)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	cpu0 := enginetest.CPUTime()
	b.ResetTimer()
	go func() { done <- p.Run(ctx) }()
	<-reached
	b.StopTimer()
	cpu := enginetest.CPUTime() - cpu0
	cancel()
	<-done
	b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/read")
}

type readerFunc func(ctx context.Context, endpointID, attr string) (any, error)

func (f readerFunc) Get(ctx context.Context, endpointID, attr string) (any, error) {
	return f(ctx, endpointID, attr)
}
