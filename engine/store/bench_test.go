package store_test

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
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

// BenchmarkCommitLone is one caller committing alone: it pays one bbolt
// transaction (its fsyncs) and no batching delay.
func BenchmarkCommitLone(b *testing.B) {
	s := openStore(b, "", store.Options{})
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
func BenchmarkCommitParallel64(b *testing.B) {
	const callers = 64
	s := openStore(b, "", store.Options{})
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range callers {
		wg.Go(func() {
			rule := fmt.Sprintf("rule-%02d", w)
			for {
				n := int(next.Add(1))
				if n > b.N {
					return
				}
				if err := s.Commit(benchCommit(rule, n)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "runs/s")
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
