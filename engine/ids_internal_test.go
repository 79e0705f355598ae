package engine

import (
	"strconv"
	"testing"
	"time"
)

// An id is the base-36 nanosecond stamp, "-" and the base-36 sequence, in
// one allocation.
func TestIDsNext(t *testing.T) {
	var g IDs
	at := time.Date(2026, 12, 5, 4, 0, 0, 123, time.UTC)
	want := strconv.FormatInt(at.UnixNano(), 36) + "-1"
	if got := g.Next(at); got != want {
		t.Fatalf("Next = %q; want %q", got, want)
	}
	g.seq.Store(1<<64 - 2)
	if got, want := g.Next(at), strconv.FormatInt(at.UnixNano(), 36)+"-"+strconv.FormatUint(1<<64-1, 36); got != want {
		t.Fatalf("Next = %q; want %q", got, want)
	}
	if n := testing.AllocsPerRun(100, func() { g.Next(at) }); n != 1 {
		t.Fatalf("%v allocations; want 1", n)
	}
}
