package poll_test

import (
	"bytes"
	"context"
	"log/slog"
	"maps"
	"math"
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

func epoch(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

func TestPublishesOnlyChanges(t *testing.T) {
	cases := []struct {
		attr          string
		first, second any
		same          any // equal to first, another instance or type
	}{
		{"brightness", 40.0, 55.0, 40.0},
		{"power", "ON", "OFF", "ON"},
		{"color", map[string]any{"hue": 350, "saturation": 0.5, "brightness": 1.0},
			map[string]any{"hue": 350.0, "saturation": 0.5, "brightness": 0.75},
			map[string]any{"hue": 350.0, "saturation": 0.5, "brightness": 1}},
		{"thermostat_mode", "HEAT", "COOL", "HEAT"},
	}
	for _, c := range cases {
		t.Run(c.attr, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newReader()
				r.set("lamp", c.attr, c.first)
				var evs events
				p := start(t, poll.Options{Reader: r, Publish: evs.publish, Interval: time.Minute},
					poll.Target{EndpointID: "lamp", Name: "Lamp", Attr: c.attr})
				sleep(time.Minute)
				got := evs.take()
				reads := r.callsOf("lamp", c.attr)
				if len(got) != 1 || len(reads) != 1 {
					t.Fatalf("first minute: %d events, %d reads; want 1, 1", len(got), len(reads))
				}
				ev := got[0]
				want := map[string]any{"attr": c.attr, "value": normalized(c.first), "since": epoch(reads[0])}
				if ev.Kind != engine.KindReading || *ev.Device != (engine.Device{Name: "Lamp", ID: "lamp"}) ||
					!ev.Time.Equal(reads[0]) || !equalData(ev.Data, want) {
					t.Errorf("first reading: %+v %+v; want data %v", ev, ev.Device, want)
				}

				r.set("lamp", c.attr, c.same)
				sleep(5 * time.Minute)
				if got := evs.take(); len(got) != 0 {
					t.Errorf("unchanged value published: %v", got)
				}
				if n := len(r.callsOf("lamp", c.attr)); n != 6 {
					t.Errorf("%d reads in 6 minutes, want 6", n)
				}

				r.set("lamp", c.attr, c.second)
				sleep(time.Minute)
				got = evs.take()
				reads = r.callsOf("lamp", c.attr)
				last := reads[len(reads)-1]
				want = map[string]any{"attr": c.attr, "value": normalized(c.second), "previous": normalized(c.first), "since": epoch(last)}
				if len(got) != 1 || !equalData(got[0].Data, want) {
					t.Fatalf("change: %v; want one event with %v", got, want)
				}
				v, since, ok := p.Last("lamp", c.attr)
				if !ok || !equalData(map[string]any{"v": v}, map[string]any{"v": normalized(c.second)}) || !since.Equal(last) {
					t.Errorf("Last = %v, %v, %v; want %v since %v", v, since, ok, c.second, last)
				}
				if s := p.Stats(); s.Changes != 2 || s.Requests != 7 || s.Errors != 0 {
					t.Errorf("stats %+v", s)
				}
			})
		})
	}
}

// normalized is v as a stored reading decodes: numbers are float64.
func normalized(v any) any {
	switch x := v.(type) {
	case int:
		return float64(x)
	case map[string]any:
		m := map[string]any{}
		for k, e := range x {
			m[k] = normalized(e)
		}
		return m
	}
	return v
}

func equalData(a, b map[string]any) bool {
	return maps.EqualFunc(a, b, func(x, y any) bool {
		mx, okx := x.(map[string]any)
		my, oky := y.(map[string]any)
		if okx || oky {
			return okx && oky && equalData(mx, my)
		}
		return x == y
	})
}

// countingStore counts the writes reaching the store.
type countingStore struct {
	engine.Store
	puts map[string]int
}

func (s *countingStore) Put(bucket, key string, value []byte) error {
	s.puts[bucket+"/"+key]++
	return s.Store.Put(bucket, key, value)
}

func TestStoredReadingSurvivesARestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := openStore(t, t.TempDir())
		defer st.Close()
		cs := &countingStore{Store: st, puts: map[string]int{}}
		r := newReader()
		r.set("sensor", "temperature", 21.5)
		var evs events
		opts := poll.Options{Reader: r, Publish: evs.publish, Store: cs, Interval: time.Minute}
		target := poll.Target{EndpointID: "sensor", Name: "Sensor", Attr: "temperature"}

		p1 := start(t, opts, target)
		sleep(10 * time.Minute)
		p1.stop(t)
		if got := evs.take(); len(got) != 1 {
			t.Fatalf("first run: %d events, want 1", len(got))
		}
		if n := cs.puts["readings/sensor/temperature"]; n != 1 || len(cs.puts) != 1 {
			t.Errorf("10 polls of one unchanged value wrote %v; want one write", cs.puts)
		}
		_, since, _ := p1.Last("sensor", "temperature")
		// Another engine reads what this poller stored (a cluster node
		// that does not poll).
		if v, s, ok := poll.Stored(st, "sensor", "temperature"); !ok || v != 21.5 || !s.Equal(since) {
			t.Errorf("Stored = %v, %v, %v; want 21.5 since %v", v, s, ok, since)
		}
		if _, _, ok := poll.Stored(st, "sensor", "humidity"); ok {
			t.Error("Stored found a reading never polled")
		}

		// A new process: the stored value is known before the first poll
		// and an unchanged value does not fire again.
		p2 := poll.New(opts)
		if err := p2.Load(); err != nil {
			t.Fatal(err)
		}
		if v, s, ok := p2.Last("sensor", "temperature"); !ok || v != 21.5 || !s.Equal(since) {
			t.Errorf("after restart Last = %v, %v, %v; want 21.5 since %v", v, s, ok, since)
		}
		run2 := start(t, opts, target)
		sleep(5 * time.Minute)
		if got := evs.take(); len(got) != 0 {
			t.Errorf("restart re-published an unchanged value: %v", got)
		}
		if v, s, _ := run2.Last("sensor", "temperature"); v != 21.5 || !s.Equal(since) {
			t.Errorf("since moved on restart: %v %v, want %v", v, s, since)
		}
		r.set("sensor", "temperature", 22.0)
		sleep(time.Minute)
		got := evs.take()
		if len(got) != 1 || got[0].Data["previous"] != 21.5 || got[0].Data["value"] != 22.0 {
			t.Fatalf("change after restart: %v", got)
		}
		run2.stop(t)
		if n := cs.puts["readings/sensor/temperature"]; n != 2 {
			t.Errorf("%d writes; want 2 (one per value)", n)
		}
	})
}

func TestUnreachableEndpoint(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newReader()
		r.set("lamp", "brightness", 40.0)
		var evs events
		p := start(t, poll.Options{Reader: r, Publish: evs.publish, Interval: time.Minute},
			poll.Target{EndpointID: "lamp", Name: "Lamp", Attr: "brightness"})
		sleep(time.Minute)
		if got := evs.take(); len(got) != 1 {
			t.Fatalf("%d events, want the first reading", len(got))
		}

		r.fail("lamp", "brightness", unreachableError{})
		sleep(5 * time.Minute)
		got := evs.take()
		if len(got) != 1 {
			t.Fatalf("5 unreachable reads published %v; want one reachability event", got)
		}
		want := map[string]any{"reachable": false, "connectivity": "UNREACHABLE", "since": got[0].Data["since"]}
		if got[0].Kind != engine.KindReachability || got[0].Device.ID != "lamp" || !equalData(got[0].Data, want) {
			t.Errorf("unreachable event %+v; want data %v", got[0], want)
		}
		if v, _, _ := p.Last("lamp", "brightness"); v != 40.0 {
			t.Errorf("last brightness %v after unreachable reads; want 40 kept", v)
		}
		if v, _, _ := p.Last("lamp", "connectivity"); v != "UNREACHABLE" {
			t.Errorf("last connectivity %v", v)
		}

		r.fail("lamp", "brightness", nil)
		sleep(time.Minute)
		got = evs.take()
		if len(got) != 1 || got[0].Kind != engine.KindReachability ||
			got[0].Data["reachable"] != true || got[0].Data["previous"] != "UNREACHABLE" {
			t.Fatalf("back online: %v; want one reachable event and no reading (value unchanged)", got)
		}
		r.set("lamp", "brightness", 60.0)
		sleep(time.Minute)
		if got := evs.take(); len(got) != 1 || got[0].Kind != engine.KindReading || got[0].Data["previous"] != 40.0 {
			t.Fatalf("readings resume: %v", got)
		}

		r.fail("lamp", "brightness", notFoundError{})
		sleep(2 * time.Minute)
		if got := evs.take(); len(got) != 1 || got[0].Data["connectivity"] != "NOT_FOUND" || got[0].Data["reachable"] != false {
			t.Fatalf("endpoint gone: %v", got)
		}
		if s := p.Stats(); s.Unreachable != 7 || s.Errors != 7 || s.Throttled != 0 {
			t.Errorf("stats %+v", s)
		}
	})
}

func TestPolledConnectivity(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newReader()
		r.set("sensor", "connectivity", "OK")
		r.set("sensor", "temperature", 20.0)
		var evs events
		start(t, poll.Options{Reader: r, Publish: evs.publish, Interval: time.Minute},
			poll.Target{EndpointID: "sensor", Name: "Sensor", Attr: "connectivity"},
			poll.Target{EndpointID: "sensor", Name: "Sensor", Attr: "temperature"})
		sleep(time.Minute)
		if got := evs.take(); len(got) != 1 || got[0].Kind != engine.KindReading {
			t.Fatalf("first minute %v: want the temperature only (a first OK is no news)", got)
		}
		steps := []struct {
			conn string
			want []any // reachable of the events published
		}{
			{"UNREACHABLE", []any{false}},
			{"NOT_FOUND", nil}, // still unreachable
			{"OK", []any{true}},
			{"OK", nil},
		}
		for _, s := range steps {
			r.set("sensor", "connectivity", s.conn)
			if s.conn == "OK" {
				r.fail("sensor", "temperature", nil)
			} else {
				r.fail("sensor", "temperature", unreachableError{})
			}
			sleep(time.Minute)
			var reach []any
			for _, ev := range evs.take() {
				if ev.Kind != engine.KindReachability {
					t.Errorf("%s: unexpected %v", s.conn, ev)
					continue
				}
				reach = append(reach, ev.Data["reachable"])
			}
			if !slices.Equal(reach, s.want) {
				t.Errorf("connectivity %s: reachability events %v, want %v", s.conn, reach, s.want)
			}
		}
	})
}

func TestSlotsSpreadEvenlyAndStayPut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newReader()
		var ts []poll.Target
		for i := range 1000 {
			id := "amzn1.alexa.endpoint." + strconv.Itoa(i)
			r.set(id, "power", "ON")
			ts = append(ts, poll.Target{EndpointID: id, Attr: "power"})
		}
		start(t, poll.Options{Reader: r, Interval: time.Minute, Rate: 1000, Concurrency: 64}, ts...)
		sleep(3 * time.Minute)
		bins := make([]int, 10)
		offsets := map[string][]time.Duration{}
		for _, c := range r.allCalls() {
			off := time.Duration(c.at.UnixNano() % int64(time.Minute))
			offsets[c.endpoint] = append(offsets[c.endpoint], off)
			bins[off/(6*time.Second)]++
		}
		for i, n := range bins {
			// 3 cycles × 100 per bin: one read every 60 ms.
			if n != 300 {
				t.Errorf("bin %d (%v..): %d reads; want about 300 of %v", i, time.Duration(i)*6*time.Second, n, bins)
			}
		}
		for id, offs := range offsets {
			if len(offs) != 3 || offs[0] != offs[1] || offs[1] != offs[2] {
				t.Errorf("%s: slot offsets %v; want the same slot each minute", id, offs)
				break
			}
		}
	})
}

func TestScheduleDoesNotDrift(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newReader()
		var ts []poll.Target
		for _, id := range []string{"a", "b", "c"} {
			r.set(id, "volume", 30.0)
			ts = append(ts, poll.Target{EndpointID: id, Attr: "volume"})
		}
		const interval = 10 * time.Second
		start(t, poll.Options{Reader: r, Interval: interval, Rate: 100, Jitter: 0.1}, ts...)
		sleep(101 * interval)
		for _, tg := range ts {
			reads := r.callsOf(tg.EndpointID, "volume")
			if len(reads) < 100 {
				t.Fatalf("%s: %d reads in 101 intervals", tg.EndpointID, len(reads))
			}
			jittered := false
			for i, at := range reads {
				// Slot i is i intervals after slot 0; jitter (10%) moves a read, never the slots.
				d := at.Sub(reads[0]) - time.Duration(i)*interval
				if d <= -interval/10 || d >= interval/10 {
					t.Fatalf("%s read %d is %v off its slot: the schedule drifts", tg.EndpointID, i, d)
				}
				jittered = jittered || d != 0
			}
			if !jittered {
				t.Errorf("%s: no read was jittered", tg.EndpointID)
			}
		}
	})
}

// maxInWindow is the most calls in any half-open window [t, t+w).
func maxInWindow(calls []call, w time.Duration) int {
	most, j := 0, 0
	for i := range calls {
		for j < len(calls) && calls[j].at.Before(calls[i].at.Add(w)) {
			j++
		}
		most = max(most, j-i)
	}
	return most
}

func countBetween(calls []call, from, to time.Time) int {
	n := 0
	for _, c := range calls {
		if !c.at.Before(from) && c.at.Before(to) {
			n++
		}
	}
	return n
}

func TestBudgetIsNeverExceeded(t *testing.T) {
	cases := []struct {
		name    string
		targets int
		every   time.Duration
		rate    float64
		burst   int
		stretch time.Duration // effective interval
	}{
		{"stretched 5x", 500, time.Second, 100, 0, 5 * time.Second},
		{"fits", 200, 5 * time.Second, 50, 0, 5 * time.Second},
		{"burst 10", 500, time.Second, 100, 10, 5 * time.Second},
		{"slow budget", 30, 10 * time.Second, 2.5, 0, 12 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				r := newReader()
				var ts []poll.Target
				for i := range c.targets {
					id := "ep" + strconv.Itoa(i)
					r.set(id, "temperature", 20.0)
					ts = append(ts, poll.Target{EndpointID: id, Attr: "temperature"})
				}
				p := start(t, poll.Options{Reader: r, Interval: c.every, Rate: c.rate, Burst: c.burst, Concurrency: 8}, ts...)
				begin := time.Now()
				sleep(10 * c.stretch)
				calls := r.allCalls()
				burst := c.burst
				if burst == 0 {
					burst = poll.DefaultBurst
				}
				for _, w := range []time.Duration{time.Second, 3 * time.Second, 10 * time.Second} {
					limit := int(math.Ceil(c.rate * w.Seconds()))
					if w > time.Second {
						limit += burst - 1 // the GCRA tolerance; 1 s windows are strict
					}
					if got := maxInWindow(calls, w); got > limit {
						t.Errorf("%d requests in a %v window; budget %d", got, w, limit)
					}
				}
				s := p.Stats()
				if s.EffectiveInterval != c.stretch {
					t.Errorf("effective interval %v, want %v", s.EffectiveInterval, c.stretch)
				}
				// After the first cycle every target is read once per effective interval.
				from := begin.Add(c.stretch + c.stretch/10)
				n := countBetween(calls, from, from.Add(5*c.stretch))
				if n < 5*c.targets-2 || n > 5*c.targets+2 {
					t.Errorf("%d reads in 5 effective intervals, want %d", n, 5*c.targets)
				}
				if s.Skipped != 0 {
					t.Errorf("%d slots skipped", s.Skipped)
				}
			})
		})
	}
}

func TestStretchesTheIntervalToFitTheBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		r := newReader()
		var ts []poll.Target
		attrs := []string{"power", "brightness", "connectivity"}
		for i := range 10_000 {
			id := "amzn1.alexa.endpoint." + strconv.Itoa(i)
			for _, a := range attrs {
				r.set(id, a, "OK")
				ts = append(ts, poll.Target{EndpointID: id, Attr: a})
			}
		}
		p := start(t, poll.Options{Reader: r, Interval: time.Minute, Rate: 100, Concurrency: 16,
			Logger: slog.New(slog.NewTextHandler(&logs, nil))}, ts...)
		begin := time.Now()
		sleep(time.Second)
		s := p.Stats()
		if s.EffectiveInterval != 300*time.Second || s.Stretch != 5 || s.Demand != 500 || s.Targets != 30_000 {
			t.Fatalf("stats %+v; want a 300 s effective interval", s)
		}
		if !strings.Contains(logs.String(), "stretched") || !strings.Contains(logs.String(), "effective_interval=5m0s") {
			t.Errorf("log: %s", logs.String())
		}
		g := gauges(p.Poller)
		if g["alexarules_poll_effective_interval_seconds"] != 300 || g["alexarules_poll_interval_seconds"] != 60 ||
			g["alexarules_poll_budget_requests_per_second"] != 100 || g["alexarules_poll_targets"] != 30_000 {
			t.Errorf("gauges %v", g)
		}

		sleep(2*300*time.Second + 40*time.Second)
		calls := r.allCalls()
		if got := maxInWindow(calls, time.Second); got > 100 {
			t.Errorf("%d requests in one second; budget 100", got)
		}
		// Evenly spread: every 10 s of the second cycle holds 1000 reads.
		second := begin.Add(300*time.Second + 30*time.Second)
		for w := range 30 {
			from := second.Add(time.Duration(w) * 10 * time.Second)
			if n := countBetween(calls, from, from.Add(10*time.Second)); n != 1000 {
				t.Errorf("%d reads in [%v, +10s); want 1000", n, from.Sub(begin))
			}
		}
		read := map[string]int{}
		for _, c := range calls {
			if !c.at.Before(second) && c.at.Before(second.Add(300*time.Second)) {
				read[c.endpoint+"/"+c.attr]++
			}
		}
		if len(read) != 30_000 {
			t.Errorf("%d targets read in one effective interval, want 30000", len(read))
		}
		for k, n := range read {
			if n != 1 {
				t.Errorf("%s read %d times in one effective interval", k, n)
				break
			}
		}
		if s := p.Stats(); s.Skipped != 0 || s.MaxLatenessLastCycle > 30*time.Second+5*time.Second {
			t.Errorf("skipped %d, lateness %v", s.Skipped, s.MaxLatenessLastCycle)
		}
	})
}

func TestBackoffKeepsOtherSlots(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newReader()
		var ts []poll.Target
		for _, id := range []string{"a", "b", "c"} {
			r.set(id, "power", "ON")
			ts = append(ts, poll.Target{EndpointID: id, Attr: "power"})
		}
		p := start(t, poll.Options{Reader: r, Interval: time.Minute, Rate: 10}, ts...)
		sleep(time.Minute)
		first := map[string]time.Time{}
		for _, c := range r.allCalls() {
			first[c.endpoint] = c.at
		}

		// a answers 429 with Retry-After 5 s once, then 503 without
		// Retry-After once: it is retried 5 s and then 1 s later.
		r.failOnce("a", "power", throttledError{after: 5 * time.Second})
		sleep(time.Minute)
		r.failOnce("a", "power", throttledError{})
		sleep(time.Minute)
		a := r.callsOf("a", "power")
		t0 := first["a"]
		want := []time.Time{t0, t0.Add(time.Minute), t0.Add(time.Minute + 5*time.Second),
			t0.Add(2 * time.Minute), t0.Add(2*time.Minute + time.Second)}
		if !slices.EqualFunc(a, want, time.Time.Equal) {
			t.Errorf("reads of a at %v; want %v", offsets(a, t0), offsets(want, t0))
		}
		for _, id := range []string{"b", "c"} {
			got := r.callsOf(id, "power")
			want := []time.Time{first[id], first[id].Add(time.Minute), first[id].Add(2 * time.Minute)}
			if !slices.EqualFunc(got, want, time.Time.Equal) {
				t.Errorf("reads of %s moved: %v; want %v", id, offsets(got, first[id]), offsets(want, first[id]))
			}
		}

		// Failing for good: the back-off doubles while it fits before the
		// next slot, and the slots stay where they were.
		r.fail("a", "power", throttledError{})
		t3 := t0.Add(3 * time.Minute)
		sleep(time.Until(t3.Add(59 * time.Second)))
		got := r.callsOf("a", "power")[len(want):]
		want = []time.Time{t3, t3.Add(time.Second), t3.Add(3 * time.Second), t3.Add(7 * time.Second),
			t3.Add(15 * time.Second), t3.Add(31 * time.Second)}
		if !slices.EqualFunc(got, want, time.Time.Equal) {
			t.Errorf("reads of a failing at %v; want %v", offsets(got, t3), offsets(want, t3))
		}
		if s := p.Stats(); s.Throttled != 2+6 || s.Errors != 2+6 {
			t.Errorf("throttled %d, errors %d", s.Throttled, s.Errors)
		}

		// Errors that a retry does not fix keep the schedule and the value.
		r.fail("a", "power", badError{})
		n := len(r.callsOf("a", "power"))
		sleep(3 * time.Minute)
		got = r.callsOf("a", "power")[n:]
		want = []time.Time{t3.Add(time.Minute), t3.Add(2 * time.Minute), t3.Add(3 * time.Minute)}
		if !slices.EqualFunc(got, want, time.Time.Equal) {
			t.Errorf("reads of a failing for good at %v; want its slots %v", offsets(got, t3), offsets(want, t3))
		}
		if v, _, _ := p.Last("a", "power"); v != "ON" {
			t.Errorf("last %v", v)
		}
	})
}

func offsets(ts []time.Time, base time.Time) []time.Duration {
	var ds []time.Duration
	for _, t := range ts {
		ds = append(ds, t.Sub(base))
	}
	return ds
}

func TestSkipsASlotWhileTheReadRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newReader()
		r.set("slow", "power", "ON")
		r.set("fast", "power", "ON")
		release := make(chan struct{})
		r.block["slow/power"] = release
		var evs events
		p := start(t, poll.Options{Reader: r, Publish: evs.publish, Interval: 10 * time.Second, ReadTimeout: time.Hour},
			poll.Target{EndpointID: "slow", Attr: "power"}, poll.Target{EndpointID: "fast", Attr: "power"})
		sleep(45 * time.Second)
		slow := r.callsOf("slow", "power")
		if len(slow) != 1 {
			t.Fatalf("%d reads of a target whose read hangs; want 1", len(slow))
		}
		fast := r.callsOf("fast", "power")
		if len(fast) < 4 {
			t.Errorf("the other target was read %d times in 45 s", len(fast))
		}
		s := p.Stats()
		// Slots at +10 s, +20 s, +30 s and maybe +40 s of the first.
		if wantSkips := uint64((45*time.Second - (slow[0].Sub(slow[0].Truncate(10 * time.Second)))) / (10 * time.Second)); s.Skipped != wantSkips || s.InFlight != 1 {
			t.Errorf("skipped %d (want %d), in flight %d", s.Skipped, wantSkips, s.InFlight)
		}
		delete(r.block, "slow/power")
		close(release)
		synctest.Wait()
		if v, _, ok := p.Last("slow", "power"); !ok || v != "ON" {
			t.Errorf("the slow read's value was not kept: %v", v)
		}
		sleep(10 * time.Second)
		if n := len(r.callsOf("slow", "power")); n != 2 {
			t.Errorf("%d reads; the slow target must be read again at its next slot", n)
		}
	})
}

func TestSetTargetsWhileRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newReader()
		r.set("a", "power", "ON")
		r.set("b", "power", "OFF")
		var evs events
		ta := poll.Target{EndpointID: "a", Name: "A", Attr: "power"}
		tb := poll.Target{EndpointID: "b", Name: "B", Attr: "power"}
		p := start(t, poll.Options{Reader: r, Publish: evs.publish, Interval: time.Minute}, ta)
		sleep(2 * time.Minute)
		evs.take()
		aReads := len(r.callsOf("a", "power"))

		p.SetTargets([]poll.Target{tb})
		sleep(3 * time.Minute)
		if n := len(r.callsOf("a", "power")); n != aReads {
			t.Errorf("a removed but read %d more times", n-aReads)
		}
		if n := len(r.callsOf("b", "power")); n != 3 {
			t.Errorf("b added: %d reads in 3 minutes", n)
		}
		if _, _, ok := p.Last("a", "power"); !ok {
			t.Error("the last value of a removed target was dropped")
		}
		if got := evs.take(); len(got) != 1 || got[0].Device.ID != "b" {
			t.Errorf("events %v; want b's first reading", got)
		}

		// a comes back (its value known, so no event) and is also asked for
		// every 10 s by another rule: it is polled once, at 10 s.
		p.SetTargets([]poll.Target{ta, tb, {EndpointID: "a", Name: "A", Attr: "power", Interval: 10 * time.Second}})
		sleep(time.Minute)
		if n := len(r.callsOf("a", "power")) - aReads; n != 6 {
			t.Errorf("a read %d times in a minute at 10 s", n)
		}
		if got := evs.take(); len(got) != 0 {
			t.Errorf("a re-added target re-published: %v", got)
		}
		if s := p.Stats(); s.Targets != 2 || s.Demand != 0.1+1.0/60 {
			t.Errorf("stats %+v", s)
		}
	})
}

func TestRunTwiceAndNoReader(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		if err := poll.New(poll.Options{}).Run(t.Context()); err == nil {
			t.Error("Run without a reader succeeded")
		}
		p := start(t, poll.Options{Reader: newReader()})
		synctest.Wait()
		if err := p.Run(t.Context()); err != poll.ErrRunning {
			t.Errorf("second Run: %v", err)
		}
	})
}

// startVirtual runs a poller on v, as the engine's own tests drive it:
// time moves only when the test advances it, and the test waits on
// channels for what runs in other goroutines. It returns when the loop
// armed its first timer; next waits (on the wall clock, 10 s at most) for
// the next event published.
func startVirtual(t *testing.T, v *engine.Virtual, o poll.Options, ts ...poll.Target) (next func() engine.Event) {
	t.Helper()
	published := make(chan engine.Event, 100)
	o.Clock, o.Publish = v, func(ev engine.Event) { published <- ev }
	p := poll.New(o)
	p.SetTargets(ts)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	enginetest.WaitPending(t, v, 1)
	return func() engine.Event {
		t.Helper()
		select {
		case ev := <-published:
			return ev
		case <-time.After(10 * time.Second):
			t.Fatal("no event published")
			return engine.Event{}
		}
	}
}

// The poller on engine.Virtual.
func TestVirtualClock(t *testing.T) {
	start0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	v := engine.NewVirtual(start0)
	r := newReader()
	r.set("lamp", "power", "ON")
	next := startVirtual(t, v, poll.Options{Reader: r, Interval: time.Minute}, poll.Target{EndpointID: "lamp", Attr: "power"})
	v.Advance(time.Minute)
	ev := next()
	if ev.Data["value"] != "ON" || ev.Time.Before(start0) || ev.Time.After(start0.Add(time.Minute)) {
		t.Errorf("first reading %+v", ev)
	}
	r.set("lamp", "power", "OFF")
	v.Advance(time.Minute)
	if ev := next(); ev.Data["value"] != "OFF" || ev.Data["previous"] != "ON" {
		t.Errorf("change %+v", ev)
	}
}

// A read held back while the engine had no room starts late and is
// reported so: the poller takes the time after the wait, not before it.
func TestReadHeldForRoomCountsAsLate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newReader()
		r.set("lamp", "power", "ON")
		var mu sync.Mutex
		var room chan struct{} // nil: room
		wait := func(ctx context.Context) error {
			mu.Lock()
			ch := room
			mu.Unlock()
			if ch == nil {
				return nil
			}
			select {
			case <-ch:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		p := start(t, poll.Options{Reader: r, Room: wait, Interval: time.Minute},
			poll.Target{EndpointID: "lamp", Name: "Lamp", Attr: "power"})
		sleep(2 * time.Minute)
		before := len(r.callsOf("lamp", "power"))
		full := make(chan struct{})
		mu.Lock()
		room = full
		mu.Unlock()
		sleep(10 * time.Minute)
		if n := len(r.callsOf("lamp", "power")); n > before+1 {
			t.Fatalf("%d reads while the engine had no room", n-before)
		}
		mu.Lock()
		room = nil
		mu.Unlock()
		close(full)
		synctest.Wait()
		// The held read's slot was in the third minute: it is over nine
		// minutes late. Timed before the wait, it counted as on time and
		// only the next slot's read (less than nine minutes late) showed.
		if late := p.Stats().MaxLateness; late < 9*time.Minute {
			t.Fatalf("lateness %v after a 10-minute wait for room", late)
		}
	})
}

// While the engine has no room (Options.Room waits) the poller starts no
// read; once there is room again, polling resumes.
func TestWaitsForRoomBeforeReading(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newReader()
		r.set("lamp", "power", "ON")
		room := make(chan struct{})
		wait := func(ctx context.Context) error {
			select {
			case <-room:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		var evs events
		start(t, poll.Options{Reader: r, Publish: evs.publish, Room: wait, Interval: time.Minute},
			poll.Target{EndpointID: "lamp", Name: "Lamp", Attr: "power"})
		sleep(10 * time.Minute)
		if n := len(r.callsOf("lamp", "power")); n != 0 {
			t.Fatalf("%d reads while the engine had no room", n)
		}
		close(room)
		sleep(time.Minute)
		if n := len(r.callsOf("lamp", "power")); n == 0 {
			t.Fatal("no read once the engine had room")
		}
	})
}
