package store_test

import (
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/store"
)

// Commits ready at the same time share the write-ahead log's records:
// the writer yields once before it takes a batch, so the callers ready to
// run queue their commits first. On one processor the first caller's send
// would otherwise run the writer at once, and every commit would cost its
// own record (and pwrite).
func TestCommitsReadyTogetherShareALogRecord(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const callers = 32
	s := openStore(t, "", store.Options{})
	before, _ := s.WriteStats()
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			<-start
			id := fmt.Sprintf("run-%02d", i)
			if err := s.Commit(engine.Commit{Rule: "r", Trace: trace("r", id, t0)}); err != nil {
				t.Error(err)
			}
		})
	}
	close(start)
	wg.Wait()
	after, _ := s.WriteStats()
	if records := after - before; records > callers/4 {
		t.Errorf("%d commits ready together took %d log records, want at most %d", callers, records, callers/4)
	}
	if runs, _ := s.Runs("r", 0); len(runs) != callers {
		t.Errorf("%d runs stored, want %d", len(runs), callers)
	}
}
