package engine

import "testing"

func TestJobQueueReleasesABurstsArray(t *testing.T) {
	var q jobQueue
	for i := range 1000 {
		q.push(job{trigger: i})
	}
	for i := range 1000 {
		if j := q.pop(); j.trigger != i {
			t.Fatalf("pop %d: got %d", i, j.trigger)
		}
	}
	if cap(q.items) != 0 {
		t.Fatalf("an empty queue keeps an array of %d jobs after a burst", cap(q.items))
	}
	for i := range 10 {
		q.push(job{trigger: i})
	}
	q.filter(func(job) bool { return false })
	if q.len() != 0 || cap(q.items) == 0 || cap(q.items) > keptJobs {
		t.Fatalf("a small array is kept for reuse: len %d cap %d", q.len(), cap(q.items))
	}
}

// filterUntil looks at the jobs only up to the one that stops it (a keyed
// rule at its CPU cap: a finished run costs what it scanned, not the
// backlog), removes those it started and keeps the rest in order.
func TestJobQueueFilterUntilStopsAtItsJob(t *testing.T) {
	var q jobQueue
	for i := range 1000 {
		q.push(job{trigger: i})
	}
	q.pop() // a head that is not the array's start
	var seen []int
	q.filterUntil(func(j job) (keep, more bool) {
		seen = append(seen, j.trigger)
		switch j.trigger {
		case 2, 4: // started
			return false, true
		case 5: // no room: it and all after it stay
			return true, false
		}
		return true, true
	})
	if len(seen) != 5 || seen[0] != 1 || seen[4] != 5 {
		t.Fatalf("looked at %v, want 1 to 5 only", seen)
	}
	want := []int{1, 3}
	for i := 5; i < 1000; i++ {
		want = append(want, i)
	}
	got := q.all()
	if len(got) != len(want) {
		t.Fatalf("%d jobs left, want %d", len(got), len(want))
	}
	for i, j := range got {
		if j.trigger != want[i] {
			t.Fatalf("job %d is %d, want %d", i, j.trigger, want[i])
		}
	}
	q.filterUntil(func(job) (bool, bool) { return false, true })
	if q.len() != 0 || cap(q.items) != 0 {
		t.Fatalf("emptied: len %d, cap %d; want a burst's array released", q.len(), cap(q.items))
	}
}

// A rule at its max, whose events wait for a worker and not for the CPU
// cap, arms no recheck: nothing the cap holds back can start at 50 ms
// (review 12b; for a keyed rule each recheck scans the whole queue).
func TestHeldBackOnlyByTheCap(t *testing.T) {
	w1, w2 := &worker{}, &worker{}
	c := &coordinator{r: &runner{rule: &Rule{Mode: ModeParallel, Max: 2}}, perKey: 2, cpuCap: 1,
		active: map[string]int{"": 2}, busy: map[*worker]bool{w1: true, w2: true}}
	c.pending.push(job{})
	c.dispatch() // starts nothing: no worker is free
	if c.heldBack() {
		t.Fatal("held back by the cap while every one of max workers is busy")
	}
}
