package store

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
)

// Flush promises every trace recorded before it is durable when it returns.
// When the Flush is the op that fills a batch (maxBatchOps), the batch holds
// the traces it took for the next transaction, and answers the Flush first.
func TestAFlushInAFullBatchWritesTheTracesRecordedBeforeIt(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "s.db"), Options{RecordDelay: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	inWriter, release := make(chan struct{}), make(chan struct{})
	s.QueuePut("b", "first", []byte("1"), func(error) { close(inWriter); <-release })
	<-inWriter
	for i := range maxBatchOps - 1 {
		s.QueuePut("b", fmt.Sprint("k", i), []byte("v"), func(error) {})
	}
	s.RecordTrace(engine.Trace{ID: "t1", Rule: "r", Started: time.Unix(1, 0).UTC(), Outcome: "ok"})
	flushed := make(chan error, 1)
	go func() { flushed <- s.Flush() }()
	for len(s.ops) < maxBatchOps {
		time.Sleep(time.Millisecond)
	}
	close(release)
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	runs, err := s.Runs("r", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 {
		t.Fatalf("Flush returned, but the trace recorded before it is not stored: %v", runs)
	}
}
