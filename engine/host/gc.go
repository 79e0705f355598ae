package host

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// GCConfig is the "gc" block: how much garbage the Go collector lets
// pile up (docs/CONFIG.md). The collector's default (GOGC=100) collects
// whenever the heap has doubled since the last collection; the engine's
// live heap is small (about 7 MB under the issue-13 load), so it collected
// every ~130 ms and spent about a tenth of the engine's CPU doing so. The
// tuner lets the heap grow to HeapMiB between collections while the live
// heap is small, and falls back to GOGC=100 once the live heap is half of
// it or more (10,000 rules: 105-120 MB live), so the heap stays at most
// max(HeapMiB, 2 × live) either way. A large live heap (thousands of
// rules) is collected sooner, down to GOGC=50, so that the heap stays
// under MaxMiB while the live heap is under two thirds of it.
type GCConfig struct {
	// HeapMiB is the heap size, in MiB, up to which garbage may grow
	// between collections; 0: DefaultGCHeapMiB; negative: leave the
	// collector as GOGC sets it.
	HeapMiB int `json:"heap_mib"`
	// MaxMiB is the heap size, in MiB, that a large live heap's garbage
	// should not take the heap past; 0: DefaultGCMaxMiB; negative: no
	// ceiling (GOGC=100 however large the live heap).
	MaxMiB int `json:"max_mib"`
}

// DefaultGCMaxMiB is gc.max_mib's default: with 10,000 rules (a live
// heap of about 110–130 MB) Go's default let the heap reach 2 × live and
// the RSS 297 MiB in one of four runs, against issue 15's 300 MiB; under
// this ceiling the heap stays near 224 MiB and the RSS under 270 MiB.
const DefaultGCMaxMiB = 224

// gcPercentMin is the lowest percent the ceiling sets: past two thirds of
// it the live heap is collected at GOGC=50, not continuously.
const gcPercentMin = 50

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
	mib, maxMiB := c.HeapMiB, c.MaxMiB
	if mib == 0 {
		mib = DefaultGCHeapMiB
	}
	if maxMiB == 0 {
		maxMiB = DefaultGCMaxMiB
	}
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	if mib < 0 || s[0].Value.Kind() != metrics.KindUint64 || s[0].Value.Uint64() != 100 {
		return func() {}
	}
	t := &gcTuner{target: uint64(mib) << 20, ceiling: uint64(max(maxMiB, 0)) << 20, percent: 100,
		live: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}
	t.tune()
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.stopped = true
		debug.SetGCPercent(100)
	}
}

// gcTuner sets the GC percent after each collection from the live heap
// that collection left. It runs on the runtime's cleanup goroutine: a
// sentinel object, unreachable as soon as it is made, is cleaned up after
// the next collection, which tunes and makes the next sentinel.
type gcTuner struct {
	target  uint64
	ceiling uint64 // 0: none
	// mu orders stop after a tune in progress, so a tune's percent never
	// lands after stop restored 100.
	mu      sync.Mutex
	stopped bool
	percent int              // last set; cleanup goroutine only
	live    []metrics.Sample // cleanup goroutine only
}

// gcSentinel holds a pointer so that it is not a tiny allocation (whose
// cleanup may wait for its neighbours).
type gcSentinel struct{ _ *byte }

func (t *gcTuner) tune() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	metrics.Read(t.live)
	if p := gcPercentFor(t.live[0].Value.Uint64(), t.target, t.ceiling); p != t.percent {
		t.percent = p
		debug.SetGCPercent(p)
	}
	runtime.AddCleanup(&gcSentinel{}, (*gcTuner).tune, t)
}

// gcPercentFor is the GC percent that makes the next collection's goal the
// target for a live heap well under half of it: 100 × (target − live) /
// live, at least Go's default 100 and at most gcPercentMax. For a live
// heap of half the target or more it is 100, or less when that goal (2 ×
// live) would pass the ceiling: the percent that makes the ceiling the
// goal, at least gcPercentMin.
func gcPercentFor(live, target, ceiling uint64) int {
	switch {
	case live == 0:
		return 100
	case live < target/2:
		return int(min(max(100*(target-live)/live, 100), gcPercentMax))
	case ceiling == 0 || 2*live <= ceiling:
		return 100
	case live >= ceiling:
		return gcPercentMin
	}
	return int(max(100*(ceiling-live)/live, gcPercentMin))
}
