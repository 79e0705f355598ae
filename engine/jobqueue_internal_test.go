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
