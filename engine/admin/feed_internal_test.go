package admin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/alexarules/alexarules/engine"
)

// A stream that falls behind loses the newest messages, never blocks the
// engine, and is told how many it lost once it catches up.
func TestASlowStreamIsToldWhatItLost(t *testing.T) {
	var f Feed
	sub := f.subscribe()
	for i := range feedQueue + 44 {
		f.Run(engine.Trace{ID: string(rune('a' + i%26))})
	}
	if len(sub.ch) != feedQueue || sub.dropped.Load() != 44 {
		t.Fatalf("queued %d, dropped %d; want %d and 44", len(sub.ch), sub.dropped.Load(), feedQueue)
	}
	// The handler's pump sends the queue, then the report.
	srv := httptest.NewServer(nil)
	defer srv.Close()
	done, pumped := make(chan struct{}), make(chan error, 1)
	srv.Config.Handler = websocketPump(sub, done, pumped)
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := range feedQueue {
		var m FeedMessage
		if err := conn.ReadJSON(&m); err != nil || m.Type != "run" {
			t.Fatalf("message %d: %+v %v", i, m, err)
		}
		if i == 0 {
			// The report follows the message after which it was seen.
			var r FeedMessage
			if err := conn.ReadJSON(&r); err != nil || r.Type != "dropped" || r.Dropped != 44 {
				t.Fatalf("after the first message: %+v %v, want a report of 44 dropped", r, err)
			}
		}
	}
	close(done)
	if err := <-pumped; err != nil {
		t.Errorf("pump: %v", err)
	}
	f.unsubscribe(sub)
	f.Run(engine.Trace{})
	if len(sub.ch) != 0 {
		t.Errorf("an unsubscribed stream still gets messages")
	}
}

// websocketPump serves one websocket that pumps sub until done closes,
// then hands pumped what the pump returned.
func websocketPump(sub *subscription, done chan struct{}, pumped chan<- error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			pumped <- err
			return
		}
		defer conn.Close()
		pumped <- (&Server{Done: done}).pump(conn, sub, nil)
	})
}
