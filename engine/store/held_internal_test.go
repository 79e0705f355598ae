package store

import (
	"slices"
	"testing"

	"github.com/alexarules/alexarules/engine"
)

// A batch that took maxBatchOps ops writes only the traces and completes
// carried into it from the batch before; those it took itself wait one
// transaction (an op queued ahead of them may not have fit), and are
// written by the next batch even when that one is full too.
func TestAFullBatchHoldsItsCompletesForOneTransaction(t *testing.T) {
	full := func(b *batch) {
		for range maxBatchOps {
			b.ops = append(b.ops, &op{kind: opPut, lazy: true})
		}
	}
	var b batch
	var h heldRecords
	full(&b)
	b.traces = []engine.Trace{{ID: "t1"}}
	b.completes = []string{"c1"}
	h.hold(&b, true)
	if len(b.traces) != 0 || len(b.completes) != 0 {
		t.Fatalf("a full batch writes %v %v, want nothing of its own", b.traces, b.completes)
	}
	b.reset()
	h.carry(&b)
	full(&b)
	b.traces = append(b.traces, engine.Trace{ID: "t2"})
	b.completes = append(b.completes, "c2")
	h.hold(&b, true)
	if len(b.traces) != 1 || b.traces[0].ID != "t1" || !slices.Equal(b.completes, []string{"c1"}) {
		t.Fatalf("the next full batch writes %v %v, want t1 and c1 (carried)", b.traces, b.completes)
	}
	b.reset()
	h.carry(&b)
	b.completes = append(b.completes, "c3") // not full: everything goes
	h.hold(&b, true)
	if len(b.traces) != 1 || b.traces[0].ID != "t2" || !slices.Equal(b.completes, []string{"c2", "c3"}) {
		t.Fatalf("a batch with room writes %v %v, want t2, c2 and c3", b.traces, b.completes)
	}
	b.reset()
	full(&b)
	b.completes = append(b.completes, "c4")
	if h.hold(&b, false); !slices.Equal(b.completes, []string{"c4"}) {
		t.Fatalf("the last batch before close writes %v, want c4", b.completes)
	}
}

// A Flush a full batch held goes into the next transaction without
// taking the place of an op queued before the records it was held with:
// that transaction still takes a whole queue of ops.
func TestCarriedFlushesLeaveRoomForAFullQueue(t *testing.T) {
	s := &Store{ops: make(chan *op, maxBatchOps), events: make(chan engine.EventRecord),
		traces: make(chan engine.Trace), completes: make(chan string), reads: make(chan *readOp)}
	s.opts.QueueSize = 16
	var b batch
	var h heldRecords
	for range maxBatchOps - 1 {
		b.ops = append(b.ops, &op{kind: opPut, lazy: true})
	}
	b.ops = append(b.ops, &op{kind: opFlush})
	b.traces = []engine.Trace{{ID: "t1"}}
	h.hold(&b, true)
	b.reset()
	for range maxBatchOps { // queued while the full batch was written
		s.ops <- &op{kind: opPut, lazy: true}
	}
	h.carry(&b)
	s.drain(&b)
	if got := len(b.ops) - 1; got != maxBatchOps || len(s.ops) != 0 {
		t.Fatalf("the transaction after a held Flush took %d queued ops and left %d, want %d and 0",
			got, len(s.ops), maxBatchOps)
	}
}

// The transaction that writes held records takes every op queued ahead
// of them even when the recorded items' queues are full and its drain is
// cut short at its limit (review of session 11).
func TestCarriedRecordsWaitForQueuedOpsWithFullRecordQueues(t *testing.T) {
	const q = 16
	s := &Store{ops: make(chan *op, maxBatchOps), events: make(chan engine.EventRecord, q),
		traces: make(chan engine.Trace, q), completes: make(chan string, q), reads: make(chan *readOp)}
	s.opts.QueueSize = q
	var b batch
	var h heldRecords
	for range maxBatchOps {
		b.ops = append(b.ops, &op{kind: opPut, lazy: true})
	}
	b.completes = []string{"c1"}
	h.hold(&b, true)
	b.reset()
	for range maxBatchOps {
		s.ops <- &op{kind: opPut, lazy: true}
	}
	for range q {
		s.events <- engine.EventRecord{}
		s.traces <- engine.Trace{}
		s.completes <- "later"
	}
	h.carry(&b)
	s.drain(&b)
	h.hold(&b, true)
	if len(s.ops) != 0 || len(b.completes) == 0 || b.completes[0] != "c1" {
		t.Fatalf("c1 written with %d ops queued ahead still queued (cut %v); completes %v", len(s.ops), b.cut, b.completes)
	}
}
