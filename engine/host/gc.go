package host

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// GCConfig is the "gc" block: how much garbage the Go collector lets
// pile up (docs/CONFIG.md). The collector's default (GOGC=100) collects
// whenever the heap has doubled since the last collection; the engine's
// live heap is small (about 7 MB under the issue-13 load), so it collected
// every ~130 ms and spent about a tenth of the engine's CPU doing so. The
// tuner lets the heap grow to HeapMiB between collections while the live
// heap is small, and falls back to GOGC=100 once the live heap is half of
// it or more (10,000 rules: 105-120 MB live), so the heap stays at most
// max(HeapMiB, 2 × live) either way.
type GCConfig struct {
	// HeapMiB is the heap size, in MiB, up to which garbage may grow
	// between collections; 0: DefaultGCHeapMiB; negative: leave the
	// collector as GOGC sets it.
	HeapMiB int `json:"heap_mib"`
}

// DefaultGCHeapMiB is gc.heap_mib's default: the engine's RSS stays far
// under the issue-13 bound (a quarter of Node-RED's 346 MiB) at every
// measured rate.
const DefaultGCHeapMiB = 32

// gcPercentMax caps the percent the tuner sets: a nearly empty heap
// (3 MB at start-up) is still collected before it grows ninefold.
const gcPercentMax = 800

// startGCTuner starts tuning the collector for c and returns the function
// that stops it and restores the GC percent. It does nothing when c turns
// it off or when GOGC (or the program) has already set a percent other
// than the default: the operator's choice wins.
func startGCTuner(c GCConfig) (stop func()) {
	mib := c.HeapMiB
	if mib == 0 {
		mib = DefaultGCHeapMiB
	}
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	if mib < 0 || s[0].Value.Kind() != metrics.KindUint64 || s[0].Value.Uint64() != 100 {
		return func() {}
	}
	t := &gcTuner{target: uint64(mib) << 20, percent: 100,
		live: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	t.tune()
	return func() {
		t.stopped.Store(true)
		debug.SetGCPercent(100)
	}
}

// gcTuner sets the GC percent after each collection from the live heap
// that collection left. It runs on the runtime's cleanup goroutine: a
// sentinel object, unreachable as soon as it is made, is cleaned up after
// the next collection, which tunes and makes the next sentinel.
type gcTuner struct {
	target  uint64
	stopped atomic.Bool
	percent int              // last set; cleanup goroutine only
	live    []metrics.Sample // cleanup goroutine only
}

// gcSentinel holds a pointer so that it is not a tiny allocation (whose
// cleanup may wait for its neighbours).
type gcSentinel struct{ _ *byte }

func (t *gcTuner) tune() {
	if t.stopped.Load() {
		return
	}
	metrics.Read(t.live)
	if p := gcPercentFor(t.live[0].Value.Uint64(), t.target); p != t.percent {
		t.percent = p
		debug.SetGCPercent(p)
	}
	runtime.AddCleanup(&gcSentinel{}, (*gcTuner).tune, t)
}

// gcPercentFor is the GC percent that makes the next collection's goal the
// target for a live heap well under half of it: 100 × (target − live) /
// live, at least Go's default 100 and at most gcPercentMax.
func gcPercentFor(live, target uint64) int {
	if live == 0 || live >= target/2 {
		return 100
	}
	return int(min(max(100*(target-live)/live, 100), gcPercentMax))
}
