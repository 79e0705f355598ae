package host

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestGCPercentFor(t *testing.T) {
	const mib = 1 << 20
	for _, tt := range []struct {
		live, target, ceiling uint64
		want                  int
	}{
		{7 * mib, 32 * mib, 224 * mib, 357}, // the e2e engine: the goal is the target
		{15 * mib, 32 * mib, 224 * mib, 113},
		{16 * mib, 32 * mib, 224 * mib, 100},  // half the target and more: Go's default
		{100 * mib, 32 * mib, 224 * mib, 100}, // 2 × live under the ceiling
		{120 * mib, 32 * mib, 224 * mib, 86},  // 10,000 rules: the goal is the ceiling
		{120 * mib, 32 * mib, 0, 100},         // no ceiling
		{160 * mib, 32 * mib, 224 * mib, 50},  // past two thirds of it: at least 50
		{300 * mib, 32 * mib, 224 * mib, 50},  // past it
		{1 * mib, 32 * mib, 224 * mib, gcPercentMax},
		{0, 32 * mib, 224 * mib, 100},
		{1, 1, 0, 100},
	} {
		if got := gcPercentFor(tt.live, tt.target, tt.ceiling); got != tt.want {
			t.Errorf("gcPercentFor(%d, %d, %d) = %d; want %d", tt.live, tt.target, tt.ceiling, got, tt.want)
		}
	}
}

func gcPercent() uint64 {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// The tuner raises the percent after a collection while the live heap is
// small, restores 100 when stopped, and leaves a percent GOGC set alone.
// Not parallel: the GC percent is the process's.
func TestGCTuner(t *testing.T) {
	if gcPercent() != 100 {
		t.Skip("GOGC is set")
	}
	stop := startGCTuner(GCConfig{HeapMiB: 1 << 10}) // this test binary's live heap is far under 512 MiB
	deadline := time.Now().Add(10 * time.Second)
	for gcPercent() != gcPercentMax {
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("GC percent %d after collections; want %d", gcPercent(), gcPercentMax)
		}
		runtime.GC()
	}
	stop()
	if p := gcPercent(); p != 100 {
		t.Fatalf("GC percent %d after stop; want 100", p)
	}

	debug.SetGCPercent(150)
	defer debug.SetGCPercent(100)
	startGCTuner(GCConfig{})()
	if p := gcPercent(); p != 150 {
		t.Fatalf("GC percent %d; the tuner changed GOGC's 150", p)
	}
	debug.SetGCPercent(100)
	startGCTuner(GCConfig{HeapMiB: -1})
	if p := gcPercent(); p != 100 {
		t.Fatalf("GC percent %d with gc.heap_mib -1; want 100", p)
	}
}
