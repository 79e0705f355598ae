package scripting_test

import (
	"context"
	"errors"
	"runtime"
	"runtime/metrics"
	"testing"
	"testing/synctest"
	"time"

	"github.com/alexarules/alexarules/scripting"
)

func heapNow() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestHeapGuardCeilingStopsShortRunsPromptly (a review finding): a rule keeps 1 MiB in a file-level
// variable per run; each run takes 0.9 ms (well under the 6 ms that makes a
// run long) and under the per-run growth budget, so only the process heap
// ceiling can stop it. The heap passes the ceiling after ~32 runs (~32 ms);
// how much further does it get before a run is stopped?
func TestHeapGuardCeilingStopsShortRunsPromptly(t *testing.T) {
	runtime.GC()
	const mib = 1 << 20
	ceiling := int64(heapNow()) + 32*mib
	synctest.Test(t, func(t *testing.T) {
		// In the bubble: the guard's nudge channel must belong to it.
		g := scripting.NewHeapGuard(scripting.Limits{HeapGrowth: 1 << 40, HeapCeiling: ceiling})
		var keep [][]byte
		start := time.Now()
		var over time.Time
		for {
			r := g.Watch(context.Background(), nil)
			keep = append(keep, make([]byte, mib))
			if over.IsZero() && int64(heapNow()) > ceiling {
				over = time.Now()
			}
			time.Sleep(900 * time.Microsecond)
			r.Stop()
			if errors.Is(context.Cause(r.Context()), scripting.ErrMemoryBudget) {
				break
			}
			time.Sleep(100 * time.Microsecond)
			if time.Since(start) > 5*time.Second || len(keep) > 300 {
				t.Logf("%v: %d MiB kept, heap %d MiB over the ceiling", time.Since(start), len(keep), (int64(heapNow())-ceiling)/mib)
				t.Fatal("never stopped")
			}
		}
		late := time.Since(over)
		t.Logf("stopped %v after the heap passed the ceiling; %d MiB kept, heap %d MiB over the ceiling",
			late, len(keep), (int64(heapNow())-ceiling)/mib)
		if late > 25*time.Millisecond {
			t.Errorf("a heap over the ceiling was left growing for %v with only short runs in progress", late)
		}
		keep = nil
		time.Sleep(2 * time.Second) // the sampler stops
	})
}
