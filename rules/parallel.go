package rules

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// parallel calls fn(0..n-1) on as many goroutines as there are CPUs:
// compiling rule files is CPU-bound and dominates start-up. It counts the
// CPUs, not the Ps of the moment: an idle `alexarules run` runs on one P
// (procs.low), and its tuner gives back every P within 50 ms of a
// reload's CPU, which goroutines started then can use.
func parallel(n int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(max(runtime.GOMAXPROCS(0), runtime.NumCPU()), max(n, 1)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(i)
			}
		})
	}
	wg.Wait()
}
