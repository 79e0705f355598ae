package engine

import (
	"testing"
	"time"
)

// BenchmarkMetricsPerRun is the metrics' cost on a run's path: the event's
// count and the run's counters and histograms.
func BenchmarkMetricsPerRun(b *testing.B) {
	m := newMetrics()
	now := time.Now()
	ev := &Event{Kind: KindCustom, Time: now}
	tr := Trace{Rule: "kitchen-lights", Outcome: OutcomeOK, DurationMS: 0.8, Started: now.Add(40 * time.Microsecond)}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.countEvent(ev.Kind)
			m.observeRun(tr, ev)
		}
	})
}
