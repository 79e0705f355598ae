package admin

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"github.com/alexarules/alexarules/engine"
)

// A dashboard stream that falls behind loses the newest messages, never
// blocks the engine, and is told how many it lost once it has caught up;
// an events-only subscriber gets no runs.
func TestASlowStreamIsToldWhatItLost(t *testing.T) {
	var f Feed
	sub, cancel := f.subscribe(true)
	events, cancelEvents := f.subscribe(false)
	defer cancelEvents()
	for i := range feedQueue + 44 {
		f.PublishRun(engine.Trace{ID: string(rune('a' + i%26))})
	}
	if len(sub.messages) != feedQueue || sub.dropped.Load() != 44 || len(events.messages) != 0 {
		t.Fatalf("queued %d, dropped %d, events-only got %d; want %d, 44, 0", len(sub.messages), sub.dropped.Load(), len(events.messages), feedQueue)
	}
	srv := httptest.NewServer(nil)
	defer srv.Close()
	pumped := make(chan error, 1)
	srv.Config.Handler = websocketPump(&f, sub, pumped)
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
	}
	var r FeedMessage
	if err := conn.ReadJSON(&r); err != nil || r.Type != "dropped" || r.Dropped != 44 {
		t.Fatalf("once the queue drained: %+v %v, want a report of 44 dropped", r, err)
	}
	f.Close()
	if err := <-pumped; err != nil {
		t.Errorf("pump: %v", err)
	}
	cancel()
	f.PublishRun(engine.Trace{})
	if len(sub.messages) != 0 {
		t.Errorf("a cancelled stream still gets messages")
	}
}

// websocketPump serves one websocket that pumps sub until f closes, then
// hands pumped what the pump returned.
func websocketPump(f *Feed, sub *subscriber, pumped chan<- error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			pumped <- err
			return
		}
		defer conn.Close()
		pumped <- (&Server{Feed: f}).pump(conn, sub, nil)
	})
}

// Without subscribers, events and runs cost the engine no allocation.
func TestFeedWithoutSubscribersAllocatesNothing(t *testing.T) {
	var f Feed
	ev := engine.EventRecord{ID: "e1", Kind: engine.KindCustom, Name: "x"}
	tr := engine.Trace{Rule: "r", EventID: "e1"}
	if n := testing.AllocsPerRun(100, func() { f.Publish(ev); f.PublishRun(tr) }); n != 0 {
		t.Errorf("Publish and PublishRun without subscribers: %v allocations, want 0", n)
	}
}
