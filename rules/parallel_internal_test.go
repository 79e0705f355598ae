package rules

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine/enginetest"
)

// A reload on an idle `alexarules run` finds GOMAXPROCS lowered to
// procs.low (1) by the host's procs tuner, which raises it again within
// 50 ms of the load's CPU: parallel must still compile on every CPU, not
// on as many goroutines as there were Ps when it started.
func TestParallelUsesEveryCPUWhileGOMAXPROCSIsLow(t *testing.T) {
	if runtime.NumCPU() < 2 {
		t.Skip("one CPU")
	}
	prev := runtime.GOMAXPROCS(1) // as the procs tuner leaves an idle engine
	defer runtime.GOMAXPROCS(prev)
	both := make(chan struct{})
	var in atomic.Int32
	parallel(2, func(int) {
		if in.Add(1) == 2 {
			close(both)
		}
		select {
		case <-both:
		case <-time.After(enginetest.Timeout):
			t.Error("the two files were compiled one after the other: parallel started one goroutine at GOMAXPROCS 1")
		}
	})
}
