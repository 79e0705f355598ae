package admin

import (
	"io"
	"net/http/httptest"
	"runtime"
	"testing"
)

// TestAClaimedLengthCostsNoMemoryUpFront (a review finding): requests that
// claim a body of almost 1 MiB and send 8 bytes must not hold the claimed
// size while they wait for the rest; the server sets no read timeout for
// bodies.
func TestAClaimedLengthCostsNoMemoryUpFront(t *testing.T) {
	const n = 100
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	writers := make([]*io.PipeWriter, n)
	done := make(chan struct{}, n)
	for i := range n {
		pr, pw := io.Pipe()
		writers[i] = pw
		r := httptest.NewRequest("POST", "/api/events", nil)
		r.Body, r.ContentLength = pr, maxEventBody-1
		go func() {
			var req publishRequest
			_ = decodeEvent(httptest.NewRecorder(), r, &req)
			done <- struct{}{}
		}()
		// Write returns once the reader took the bytes: the decoder has
		// made its buffer by then.
		if _, err := pw.Write([]byte(`{"name":`)); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if held := int64(after.HeapAlloc) - int64(before.HeapAlloc); held > 10<<20 {
		t.Errorf("%d requests claiming %d bytes and sending 8 hold %.1f MiB", n, maxEventBody-1, float64(held)/(1<<20))
	}
	for _, pw := range writers {
		pw.Close()
	}
	for range n {
		<-done
	}
}
