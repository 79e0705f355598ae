package store_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/enginetest"
	"github.com/alexarules/alexarules/engine/store"
)

// benchCommit is a typical run: a trace with one action, a small state and
// one global key.
func benchCommit(rule string, n int) engine.Commit {
	id := fmt.Sprintf("%s-%d", rule, n)
	return engine.Commit{
		Rule: rule,
		Trace: engine.Trace{
			ID: id, Rule: rule, Trigger: "alexa.alarm", Started: t0.Add(time.Duration(n) * time.Millisecond),
			DurationMS: 0.4, Outcome: engine.OutcomeOK,
			Actions: []engine.Action{{Call: "set_power", Device: "Porch light", Args: map[string]any{"on": true}}},
			Log:     []string{"alarm went off, porch on"},
		},
		RuleState: json.RawMessage(fmt.Sprintf(`{"count":%d,"last":"porch"}`, n)),
		GlobalSet: map[string]json.RawMessage{"last_rule": json.RawMessage(`"` + rule + `"`)},
	}
}

// syncModes runs bench once per sync mode, as a sub-benchmark named
// after it.
func syncModes(b *testing.B, bench func(b *testing.B, opts store.Options)) {
	for _, mode := range []string{store.SyncInterval, store.SyncAlways} {
		b.Run(mode, func(b *testing.B) { bench(b, store.Options{Sync: mode}) })
	}
}

// BenchmarkCommitLone is one caller committing alone: it pays one bbolt
// transaction (its fsyncs) and no batching delay in the always mode, one
// write of the log in the interval mode.
func BenchmarkCommitLone(b *testing.B) { syncModes(b, benchCommitLone) }

func benchCommitLone(b *testing.B, opts store.Options) {
	s := openStore(b, "", opts)
	n := 0
	for b.Loop() {
		if err := s.Commit(benchCommit("lone", n)); err != nil {
			b.Fatal(err)
		}
		n++
	}
}

// BenchmarkCommitParallel64 is 64 goroutines committing at once (64 rules,
// default retention so pruning runs); group commit shares the fsyncs.
func BenchmarkCommitParallel64(b *testing.B) { syncModes(b, benchCommitParallel64) }

func benchCommitParallel64(b *testing.B, opts store.Options) {
	const callers = 64
	s := openStore(b, "", opts)
	b.ResetTimer()
	start := time.Now()
	inParallel(b, callers, func(w int) func(n int) error {
		rule := fmt.Sprintf("rule-%02d", w)
		return func(n int) error { return s.Commit(benchCommit(rule, n)) }
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "runs/s")
}

// inParallel runs b.N steps from callers goroutines and returns when all
// are done: goroutine w makes its step function with caller(w) and calls it
// with the numbers 1..b.N it takes, until one fails.
func inParallel(b *testing.B, callers int, caller func(w int) func(n int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range callers {
		step := caller(w)
		wg.Go(func() {
			for {
				n := int(next.Add(1))
				if n > b.N {
					return
				}
				if err := step(n); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkRecordEvent is the cost RecordEvent adds to the hot path. The
// loop floods the writer far beyond any real event rate: it journals what
// it can (journaled/s) and the rest is dropped (dropped/op).
func BenchmarkRecordEvent(b *testing.B) {
	s := openStore(b, "", store.Options{})
	ev := engine.EventRecord{
		Kind: engine.KindReading, Device: &engine.Device{Name: "Kitchen sensor", ID: "abc"},
		Data: map[string]any{"attr": "temperature", "value": 21.5, "previous": 21.0},
	}
	n := 0
	start := time.Now()
	for b.Loop() {
		ev.ID = fmt.Sprint(n)
		ev.Time = t0.Add(time.Duration(n))
		s.RecordEvent(ev)
		n++
	}
	b.StopTimer()
	if err := s.Flush(); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	dropped := s.Dropped()
	b.ReportMetric(float64(dropped)/float64(n), "dropped/op")
	// What the writer journaled while the loop flooded it: its capacity.
	b.ReportMetric(float64(uint64(n)-dropped)/elapsed.Seconds(), "journaled/s")
}

// benchEvent is the end-to-end benchmark's event: a custom event with a
// small data map, as POST /api/events accepts it.
func benchEvent(n int) engine.Event {
	at := t0.Add(time.Duration(n) * time.Microsecond)
	return engine.Event{ID: fmt.Sprintf("ev-%d", n), Kind: engine.KindCustom, Time: at, Name: "bench",
		Data: map[string]any{"seq": float64(n), "sent_ns": float64(at.UnixNano())}}
}

// benchRunTrace is the trace of the end-to-end rule's run of ev: one call
// out, so the engine commits it (its done mark must be durable).
func benchRunTrace(ev engine.Event, n int) engine.Trace {
	return engine.Trace{
		ID: fmt.Sprintf("run-%d", n), Rule: "bench", EventID: ev.ID, Trigger: "event:bench",
		Started: ev.Time, DurationMS: 0.12, Outcome: engine.OutcomeOK,
		Actions: []engine.Action{{Call: "set_brightness", Device: "Bench Lamp 7", Args: map[string]any{"brightness": float64(n % 100)},
			Result: "ok", Rule: "bench", EventID: ev.ID}},
		Log: []string{},
	}
}

// BenchmarkEventPath is the store's share of one event on the end-to-end
// path, from 32 concurrent callers: Accept (the 202 waits for it), then
// the rule's run committing its trace (it called out) and, as the event's
// last run, completing the event.
func BenchmarkEventPath(b *testing.B) { syncModes(b, benchEventPath) }

func benchEventPath(b *testing.B, opts store.Options) {
	const callers = 32
	s := openStore(b, "", opts)
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu := time.Now(), enginetest.CPUTime()
	txns, pages := s.WriteStats()
	inParallel(b, callers, func(int) func(n int) error {
		accepted := make(chan error, 1)
		return func(n int) error {
			ev := benchEvent(n)
			s.Accept(ev, true, func(_ bool, err error) { accepted <- err })
			if err := <-accepted; err != nil {
				return err
			}
			// The event's only run: its commit completes it.
			return s.Commit(engine.Commit{Rule: "bench", Trace: benchRunTrace(ev, n), Complete: ev.ID})
		}
	})
	if err := s.Flush(); err != nil {
		b.Fatal(err)
	}
	elapsed, used := time.Since(start), enginetest.CPUTime()-cpu
	endTxns, endPages := s.WriteStats()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(used.Microseconds())/float64(b.N), "cpu-µs/event")
	b.ReportMetric(float64(endTxns-txns)/float64(b.N), "txns/event")
	b.ReportMetric(float64(endPages-pages)/float64(b.N), "pages/event")
}

// BenchmarkEventPathPaced is BenchmarkEventPath at 1,000 events/s, each
// event from its own goroutine as an HTTP handler would: what the store
// costs an event at a household rate, where waking goroutines that sleep
// costs more than the writes.
func BenchmarkEventPathPaced(b *testing.B) { syncModes(b, benchEventPathPaced) }

func benchEventPathPaced(b *testing.B, opts store.Options) {
	s := openStore(b, "", opts)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	var wg sync.WaitGroup
	var failed atomic.Pointer[error]
	b.ResetTimer()
	cpu := enginetest.CPUTime()
	n := 0
	for b.Loop() {
		<-tick.C
		wg.Go(func() {
			ev := benchEvent(n)
			accepted := make(chan error, 1)
			s.Accept(ev, true, func(_ bool, err error) { accepted <- err })
			err := <-accepted
			if err == nil {
				err = s.Commit(engine.Commit{Rule: "bench", Trace: benchRunTrace(ev, n), Complete: ev.ID})
			}
			if err != nil {
				failed.Store(&err)
			}
		})
		n++
	}
	wg.Wait()
	used := enginetest.CPUTime() - cpu
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
	b.ReportMetric(float64(used.Microseconds())/float64(b.N), "cpu-µs/event")
}
