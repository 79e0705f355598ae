package poll_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/enginetest"
	"github.com/alexarules/alexarules/engine/poll"
)

// batch is one ReadMany call the fake batch reader answered.
type batch struct {
	at    time.Time
	reads []poll.Read
}

// batchReader is a fake BatchReader: it answers every read of a batch as
// the fake reader answers a single one (recording it there too), or, for
// the next throttled calls, every read with a throttle; Get counts calls
// the poller must not make.
type batchReader struct {
	*fakeReader
	max int

	mu        sync.Mutex
	batches   []batch
	singles   int
	throttled int           // the next this many calls answer a throttle
	after     time.Duration // the throttle's Retry-After
	short     int           // the next call answers this many results fewer
}

func newBatchReader(max int) *batchReader {
	return &batchReader{fakeReader: newReader(), max: max}
}

func (b *batchReader) MaxBatch() int { return b.max }

func (b *batchReader) Get(ctx context.Context, endpoint, attr string) (any, error) {
	b.mu.Lock()
	b.singles++
	b.mu.Unlock()
	return b.fakeReader.Get(ctx, endpoint, attr)
}

func (b *batchReader) ReadMany(ctx context.Context, reads []poll.Read) []poll.ReadResult {
	b.mu.Lock()
	b.batches = append(b.batches, batch{time.Now(), slices.Clone(reads)})
	throttle := b.throttled > 0
	if throttle {
		b.throttled--
	}
	short := b.short
	b.short = 0
	b.mu.Unlock()
	out := make([]poll.ReadResult, len(reads)-short)
	for i := range out {
		if throttle {
			out[i].Err = throttledError{after: b.after}
			continue
		}
		out[i].Value, out[i].Err = b.fakeReader.Get(ctx, reads[i].EndpointID, reads[i].Attr)
	}
	return out
}

func (b *batchReader) throttle(calls int, after time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.throttled, b.after = calls, after
}

func (b *batchReader) calls() []batch {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.singles != 0 {
		panic(fmt.Sprintf("the poller called Get %d times on a BatchReader", b.singles))
	}
	return slices.Clone(b.batches)
}

// sizes are the reads of each batch.
func sizes(bs []batch) []int {
	var n []int
	for _, b := range bs {
		n = append(n, len(b.reads))
	}
	return n
}

// firstBatch waits for the first request and returns it.
func firstBatch(r *batchReader) []batch {
	for len(r.calls()) == 0 {
		sleep(time.Second)
	}
	return r.calls()[:1]
}

// household makes n lamps polled for power.
func household(r *batchReader, n int) []poll.Target {
	var ts []poll.Target
	for i := range n {
		id := "lamp-" + strconv.Itoa(i)
		r.set(id, "power", "ON")
		ts = append(ts, poll.Target{EndpointID: id, Name: "Lamp " + strconv.Itoa(i), Attr: "power"})
	}
	return ts
}

func gauges(p *poll.Poller) map[string]float64 { return enginetest.Gauges(p.Gauges()) }

func TestBatchReadsEveryDueTargetInOneRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newBatchReader(50)
		var evs events
		o := poll.SmartHomeDefaults().Fill(poll.Options{Reader: r, Publish: evs.publish})
		p := start(t, o, household(r, 10)...)
		sleep(15 * time.Minute)
		bs := r.calls()
		if !slices.Equal(sizes(bs), []int{10, 10, 10}) {
			t.Fatalf("batches of %v reads in 15 min; want 3 of all 10 lamps", sizes(bs))
		}
		for i, b := range bs[1:] {
			if d := b.at.Sub(bs[i].at); d != poll.SmartHomeInterval {
				t.Errorf("batch %d came %v after the one before; want %v", i+1, d, poll.SmartHomeInterval)
			}
		}
		if got := evs.take(); len(got) != 10 {
			t.Errorf("%d events; want the first reading of each lamp", len(got))
		}
		s := p.Stats()
		if s.Requests != 3 || s.Reads != 30 || s.MaxBatch != 50 || s.Demand != 1.0/300 || s.Stretch != 1 ||
			s.EffectiveInterval != poll.SmartHomeInterval {
			t.Errorf("stats %+v", s)
		}
		g := gauges(p.Poller)
		if g["alexarules_poll_requests_total"] != 3 || g["alexarules_poll_reads_total"] != 30 ||
			g["alexarules_poll_batch_max_reads"] != 50 || g["alexarules_poll_budget_requests_per_second"] != poll.SmartHomeRate {
			t.Errorf("gauges %v", g)
		}
	})
}

func TestSingleReaderGaugesCountReads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newReader()
		r.set("a", "power", "ON")
		r.set("b", "power", "ON")
		p := start(t, poll.Options{Reader: r, Interval: time.Minute},
			poll.Target{EndpointID: "a", Attr: "power"}, poll.Target{EndpointID: "b", Attr: "power"})
		sleep(3 * time.Minute)
		g := gauges(p.Poller)
		if g["alexarules_poll_requests_total"] != 6 || g["alexarules_poll_reads_total"] != 6 || g["alexarules_poll_batch_max_reads"] != 1 {
			t.Errorf("gauges %v", g)
		}
	})
}

func TestBatchSplitsAtMaxBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newBatchReader(50)
		ts := household(r, 120)
		start(t, poll.Options{Reader: r, Interval: time.Minute, Rate: 1}, ts...)
		sleep(time.Minute)
		first := r.calls()
		sleep(2 * time.Minute)
		bs := r.calls()
		if !slices.Equal(sizes(first), []int{40, 40, 40}) || !slices.Equal(sizes(bs), []int{40, 40, 40, 40, 40, 40, 40, 40, 40}) {
			t.Fatalf("batches %v, then %v; want 3 chunks of 40 a minute", sizes(first), sizes(bs))
		}
		seen := map[string]int{}
		for i, b := range bs {
			for _, rd := range b.reads {
				seen[rd.EndpointID]++
			}
			// Chunks spread evenly (20 s apart), each read every minute.
			if i > 0 && b.at.Sub(bs[i-1].at) != 20*time.Second {
				t.Errorf("requests %d and %d are %v apart; want 20 s", i-1, i, b.at.Sub(bs[i-1].at))
			}
		}
		for _, tg := range ts {
			if seen[tg.EndpointID] != 3 {
				t.Errorf("%s read %d times in 3 minutes", tg.EndpointID, seen[tg.EndpointID])
			}
		}
	})
}

// Jitter moves a chunk's slot as one: the batch stays one request.
func TestBatchJitterMovesTheChunk(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newBatchReader(50)
		start(t, poll.Options{Reader: r, Interval: time.Minute, Rate: 1, Jitter: 0.2, Coalesce: -1}, household(r, 10)...)
		sleep(10 * time.Minute)
		bs := r.calls()
		if !slices.Equal(sizes(bs), slices.Repeat([]int{10}, 10)) {
			t.Fatalf("batches %v; want all 10 lamps in one request a minute", sizes(bs))
		}
		jittered := false
		for i := 1; i < len(bs); i++ {
			d := bs[i].at.Sub(bs[i-1].at)
			jittered = jittered || d != time.Minute
		}
		if !jittered {
			t.Error("no cycle was jittered")
		}
	})
}

// Reads due at once beyond MaxBatch (here: queued behind a throttle) go
// in as many requests as needed, none above MaxBatch.
func TestBatchSplitsQueuedReads(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newBatchReader(3)
		ts := household(r, 7)
		r.throttle(1, 50*time.Second)
		start(t, poll.Options{Reader: r, Interval: time.Minute, Rate: 10, Coalesce: -1}, ts...)
		bs := firstBatch(r)
		if len(bs[0].reads) != 3 {
			t.Fatalf("first batch %v; want a chunk of 3", bs[0].reads)
		}
		t0 := bs[0].at
		sleep(time.Until(t0.Add(55 * time.Second)))
		bs = r.calls()[1:]
		got := sizes(bs)
		slices.Sort(got)
		if !slices.Equal(got, []int{1, 3, 3}) {
			t.Fatalf("after the throttle: batches %v; want the 7 reads in requests of at most 3", sizes(bs))
		}
		seen := map[string]bool{}
		for _, b := range bs {
			if b.at.Before(t0.Add(50*time.Second)) || b.at.After(t0.Add(51*time.Second)) {
				t.Errorf("batch at %v; want at the end of the throttle's 50 s", b.at.Sub(t0))
			}
			for _, rd := range b.reads {
				if seen[rd.EndpointID] {
					t.Errorf("%s read twice", rd.EndpointID)
				}
				seen[rd.EndpointID] = true
			}
		}
		if len(seen) != 7 {
			t.Errorf("%d lamps read once the throttle cleared; want 7", len(seen))
		}
	})
}

// A target due within the coalescing window of a request with room joins
// it: here a 5 min reading rides along with a 2 min one.
func TestBatchCoalescesTargetsDueSoon(t *testing.T) {
	for _, c := range []struct {
		coalesce float64
		requests int // in 20 minutes
	}{
		{0, 10},  // default window (a quarter interval): 10 of the 2 min target, the 5 min ones ride along
		{-1, 12}, // no window: two more of the 5 min targets alone
	} {
		t.Run(fmt.Sprint(c.coalesce), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newBatchReader(50)
				ts := household(r, 5)
				r.set("sensor", "temperature", 20.0)
				ts = append(ts, poll.Target{EndpointID: "sensor", Attr: "temperature", Interval: 2 * time.Minute})
				begin := time.Now()
				if begin.UnixNano()%int64(10*time.Minute) != 0 {
					t.Fatalf("the bubble's clock starts at %v, not on a 10 min boundary", begin)
				}
				p := start(t, poll.Options{Reader: r, Interval: 5 * time.Minute, Rate: 1, Coalesce: c.coalesce}, ts...)
				sleep(20 * time.Minute)
				bs := r.calls()
				if len(bs) != c.requests {
					t.Errorf("%d requests in 20 min: %v; want %d", len(bs), sizes(bs), c.requests)
				}
				lamp, sensor := 0, 0
				for _, b := range bs {
					for _, rd := range b.reads {
						switch rd.EndpointID {
						case "lamp-0":
							lamp++
						case "sensor":
							sensor++
						}
					}
				}
				// Every slot read once: the lamps' slots at 0, 5, 10 and
				// 15 min past the phase, the sensor's every 2 min.
				if lamp != 4 || sensor != 10 {
					t.Errorf("lamp read %d times, sensor %d; want 4 and 10", lamp, sensor)
				}
				if s := p.Stats(); s.Skipped != 0 || s.Demand != 1.0/300+1.0/120 {
					t.Errorf("stats %+v", s)
				}
			})
		})
	}
}

func TestBatchClassifiesEachRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newBatchReader(50)
		for _, id := range []string{"ok", "away", "gone", "denied"} {
			r.set(id, "power", "ON")
		}
		r.fail("away", "power", unreachableError{})
		r.fail("gone", "power", notFoundError{})
		r.fail("denied", "power", badError{})
		var evs events
		var ts []poll.Target
		for _, id := range []string{"ok", "away", "gone", "denied"} {
			ts = append(ts, poll.Target{EndpointID: id, Name: id, Attr: "power"})
		}
		p := start(t, poll.Options{Reader: r, Publish: evs.publish, Interval: time.Minute, Rate: 1}, ts...)
		sleep(time.Minute)
		got := map[string]string{}
		for _, ev := range evs.take() {
			switch ev.Kind {
			case engine.KindReading:
				got[ev.Device.ID] = fmt.Sprint(ev.Data["value"])
			case engine.KindReachability:
				got[ev.Device.ID] = fmt.Sprint(ev.Data["connectivity"])
			}
		}
		want := map[string]string{"ok": "ON", "away": "UNREACHABLE", "gone": "NOT_FOUND"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("events %v; want %v", got, want)
		}
		if s := p.Stats(); s.Requests != 1 || s.Reads != 4 || s.Errors != 3 || s.Unreachable != 2 || s.Throttled != 0 {
			t.Errorf("stats %+v", s)
		}
		// None of these is retried: the next minute reads all four again,
		// in one request.
		sleep(time.Minute)
		if bs := r.calls(); !slices.Equal(sizes(bs), []int{4, 4}) || bs[1].at.Sub(bs[0].at) != time.Minute {
			t.Errorf("batches %v", sizes(bs))
		}

		// A reader that answers fewer results than reads: the rest fail.
		for _, id := range []string{"away", "gone", "denied"} {
			r.fail(id, "power", nil)
		}
		r.mu.Lock()
		r.short = 1
		r.mu.Unlock()
		before := p.Stats()
		sleep(time.Minute)
		if s := p.Stats(); s.Errors-before.Errors != 1 || s.Requests-before.Requests != 1 || s.Reads-before.Reads != 4 {
			t.Errorf("short answer: %d errors, %d reads in %d requests; want 1 (the missing one), 4 in 1",
				s.Errors-before.Errors, s.Reads-before.Reads, s.Requests-before.Requests)
		}
	})
}

// An error of the whole request fails every read of it, logged once;
// the reads are not retried before their next slot.
func TestBatchRequestError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newBatchReader(50)
		ts := household(r, 5)
		for _, tg := range ts {
			r.fail(tg.EndpointID, "power", badError{})
		}
		var logs bytes.Buffer
		p := start(t, poll.Options{Reader: r, Interval: time.Minute, Rate: 1,
			Logger: slog.New(slog.NewTextHandler(&logs, nil))}, ts...)
		sleep(2 * time.Minute)
		if bs := r.calls(); !slices.Equal(sizes(bs), []int{5, 5}) {
			t.Errorf("batches %v; want all 5 lamps once a minute", sizes(bs))
		}
		if s := p.Stats(); s.Errors != 10 || s.Throttled != 0 || s.Unreachable != 0 {
			t.Errorf("stats %+v", s)
		}
		if n := strings.Count(logs.String(), "batched reads failed"); n != 2 || !strings.Contains(logs.String(), "reads=5 batch=5") {
			t.Errorf("%d warnings for 2 failed requests; want 2, each of 5 reads:\n%s", n, logs.String())
		}
	})
}

// A throttled batch backs off every read in it together, holds every
// request until then (the account is throttled), and reads everything
// once it clears.
func TestBatchThrottleBacksOffTogether(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newBatchReader(50)
		ts := household(r, 3)
		r.set("sensor", "temperature", 20.0)
		ts = append(ts, poll.Target{EndpointID: "sensor", Attr: "temperature", Interval: 30 * time.Second})
		var evs events
		r.throttle(1, 40*time.Second)
		p := start(t, poll.Options{Reader: r, Publish: evs.publish, Interval: time.Minute, Rate: 1}, ts...)
		bs := firstBatch(r)
		if len(bs[0].reads) != 4 {
			t.Fatalf("first batches %v; want the 4 targets in one", sizes(bs))
		}
		t0 := bs[0].at
		sleep(time.Until(t0.Add(80 * time.Second)))
		bs = r.calls()
		var at []time.Duration
		for _, b := range bs {
			at = append(at, b.at.Sub(t0))
		}
		// The sensor's slot at +30 s waits (queued) for the throttle's 40 s;
		// at +40 s one request reads all four, at +60 s the next slots.
		if !slices.Equal(sizes(bs), []int{4, 4, 4}) || !slices.Equal(at, []time.Duration{0, 40 * time.Second, 60 * time.Second}) {
			t.Errorf("batches %v at %v; want 4 reads at 0, 40 s and 60 s", sizes(bs), at)
		}
		if got := evs.take(); len(got) != 4 {
			t.Errorf("%d events after the throttle cleared; want the first reading of all 4", len(got))
		}
		if s := p.Stats(); s.Throttled != 4 || s.Errors != 4 || s.Requests != 3 || s.Skipped != 0 {
			t.Errorf("stats %+v; want 4 reads throttled, none skipped", s)
		}
	})
}

// A throttle without Retry-After backs off by at least the budget's
// spacing, and doubles while the throttle lasts.
func TestBatchThrottleWithoutRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newBatchReader(50)
		ts := household(r, 2)
		r.throttle(2, 0)
		start(t, poll.Options{Reader: r, Interval: 10 * time.Minute, Rate: 1.0 / 60}, ts...)
		sleep(time.Until(firstBatch(r)[0].at.Add(5 * time.Minute)))
		bs := r.calls()
		var at []time.Duration
		for _, b := range bs {
			at = append(at, b.at.Sub(bs[0].at))
		}
		if !slices.Equal(at, []time.Duration{0, time.Minute, 3 * time.Minute}) || !slices.Equal(sizes(bs), []int{2, 2, 2}) {
			t.Errorf("batches %v at %v; want both lamps at 0, +1 min, +3 min", sizes(bs), at)
		}
	})
}

// The budget counts a batch as one request: 100 targets in 2 chunks a
// minute fit a budget of 2 a minute; 3 chunks stretch the interval.
func TestBatchBudgetCountsRequests(t *testing.T) {
	for _, c := range []struct {
		targets int
		eff     time.Duration
	}{
		{100, time.Minute},
		{120, 90 * time.Second},
	} {
		t.Run(strconv.Itoa(c.targets), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newBatchReader(50)
				p := start(t, poll.Options{Reader: r, Interval: time.Minute, Rate: 2.0 / 60}, household(r, c.targets)...)
				sleep(10 * c.eff)
				if s := p.Stats(); s.EffectiveInterval != c.eff {
					t.Errorf("effective interval %v, want %v (stats %+v)", s.EffectiveInterval, c.eff, s)
				}
				bs := r.calls()
				chunks := (c.targets + 49) / 50
				if len(bs) < 9*chunks || len(bs) > 10*chunks {
					t.Errorf("%d requests in 10 effective intervals, want %d a cycle", len(bs), chunks)
				}
				for i := 1; i < len(bs); i++ {
					if d := bs[i].at.Sub(bs[i-1].at); d < 30*time.Second {
						t.Errorf("requests %d and %d %v apart: over the budget of 2 a minute", i-1, i, d)
					}
				}
			})
		})
	}
}

func TestSmartHomeDefaults(t *testing.T) {
	d := poll.SmartHomeDefaults()
	if o := d.Fill(poll.Options{}); o.Interval != 5*time.Minute || o.Rate != 2.0/300 || o.Concurrency != 1 {
		t.Errorf("filled %+v", o)
	}
	if o := d.Fill(poll.Options{Interval: time.Minute, Rate: 0.5, Concurrency: 3}); o.Interval != time.Minute || o.Rate != 0.5 || o.Concurrency != 3 {
		t.Errorf("configured values replaced: %+v", o)
	}
	if o := (poll.Defaults{}).Fill(poll.Options{}); o.Interval != 0 || o.Rate != 0 || o.Concurrency != 0 {
		t.Errorf("zero defaults filled %+v; want the package's defaults left to New", o)
	}
}

// Batches on engine.Virtual, as the engine's own tests drive it.
func TestBatchVirtualClock(t *testing.T) {
	v := engine.NewVirtual(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	r := newBatchReader(50)
	ts := household(r, 3)
	next := startVirtual(t, v, poll.Options{Reader: r, Interval: 5 * time.Minute}, ts...)
	v.Advance(5 * time.Minute)
	for range 3 {
		if ev := next(); ev.Data["value"] != "ON" {
			t.Errorf("reading %+v", ev)
		}
	}
	if bs := r.calls(); !slices.Equal(sizes(bs), []int{3}) {
		t.Errorf("batches %v; want one of the 3 lamps", sizes(bs))
	}
}
