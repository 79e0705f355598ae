package rules

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// parallel calls fn(0..n-1) on as many goroutines as there are CPUs:
// compiling rule files is CPU-bound and dominates start-up.
func parallel(n int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(n, 1)) {
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
