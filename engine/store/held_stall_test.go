package store_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine/store"
)

// A Complete taken by a batch that filled up with maxBatchOps (1024) ops is
// held for the next transaction, which the writer makes at once even when
// no further write comes (before the fix nothing woke it: the event stayed
// in the inbox until some unrelated write).
func TestAHeldCompleteIsWrittenWithoutOtherWork(t *testing.T) {
	s, err := store.Open(filepath.Join(t.TempDir(), "s.db"), store.Options{RecordDelay: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	accept(t, s, "e1", false)
	inWriter, release := make(chan struct{}), make(chan struct{})
	s.QueuePut("b", "first", []byte("1"), func(error) { close(inWriter); <-release }) // the writer waits here
	<-inWriter
	for i := range 1024 { // exactly what the ops queue holds
		s.QueuePut("b", "k"+string(rune('a'+i%26))+time.Duration(i).String(), []byte("v"), func(error) {})
	}
	s.Complete("e1")
	close(release)
	deadline := time.Now().Add(5 * time.Second) // 500 x RecordDelay
	for p := inbox(t, s); len(p) != 0; p = inbox(t, s) {
		if time.Now().After(deadline) {
			t.Fatalf("the completed event is still in the inbox: %v", p)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
