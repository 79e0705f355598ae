package scripting

import "testing"

func TestHeapGuardCollectsGarbageNotALargeLiveHeap(t *testing.T) {
	const mib = 1 << 20
	g := NewHeapGuard(Limits{HeapGrowth: 64 * mib, HeapCeiling: 384 * mib})
	for _, c := range []struct {
		name       string
		heap, live uint64
		sinceGC    int
		want       bool
		why        string
	}{
		{"small heap", 100 * mib, 10 * mib, 1000, false, "under half the ceiling"},
		{"large live heap", 230 * mib, 170 * mib, gcEvery, false, "10,000 rules: the garbage is less than one run's budget"},
		{"garbage of a stopped run", 300 * mib, 170 * mib, gcEvery, true, "more garbage than one run's budget"},
		{"too soon", 300 * mib, 170 * mib, gcEvery - 1, false, "at most every gcEvery samples"},
		{"over the ceiling", 400 * mib, 390 * mib, gcSoon, true, "the live heap must be checked"},
		{"over the ceiling, too soon", 400 * mib, 390 * mib, gcSoon - 1, false, "at most every gcSoon samples"},
	} {
		if got := g.shouldCollect(c.heap, c.live, c.sinceGC); got != c.want {
			t.Errorf("%s: collect %v, want %v (%s)", c.name, got, c.want, c.why)
		}
	}
}
