package enginetest

import (
	"testing"
	"time"
)

// WaitUntil polls cond until it holds, or fails the test after Timeout
// saying what it waited for: for effects of another goroutine that no
// clock timer announces (a request sent, a state saved).
func WaitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
