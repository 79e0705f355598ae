package store

import (
	"slices"
	"testing"
)

// After a yield that found nothing, the writer skips the next one, after
// two such yields in a row the next two, and so on up to maxYieldSkip; a
// yield that found writes makes it yield every time again.
func TestTheWriterYieldsLessWhileYieldingFindsNothing(t *testing.T) {
	var y yields
	pattern := func(found bool, n int) []bool {
		var got []bool
		for range n {
			due := y.due()
			got = append(got, due)
			if due {
				y.found(found)
			}
		}
		return got
	}
	if got := pattern(true, 4); !slices.Equal(got, []bool{true, true, true, true}) {
		t.Fatalf("while yields find writes: %v, want a yield every time", got)
	}
	// Misses: yield, skip 1, yield, skip 2, yield, skip 4, yield.
	want := []bool{true, false, true, false, false, true, false, false, false, false, true}
	if got := pattern(false, len(want)); !slices.Equal(got, want) {
		t.Fatalf("while yields find nothing: %v, want %v", got, want)
	}
	for range 20 {
		pattern(false, 2*maxYieldSkip)
	}
	if y.skip != maxYieldSkip {
		t.Fatalf("skip grew to %d, want at most %d", y.skip, maxYieldSkip)
	}
	pattern(true, maxYieldSkip+1) // up to the next yield, which finds writes
	if got := pattern(true, 3); !slices.Equal(got, []bool{true, true, true}) {
		t.Fatalf("after a yield that found writes: %v, want a yield every time", got)
	}
}
