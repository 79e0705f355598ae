package host_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/alexarules/alexarules/engine/admin"
	"github.com/alexarules/alexarules/engine/host"
)

// The host feeds the dashboard: its stream shows events and runs as they
// happen and closes when the host stops; /api/rules has each rule's next
// scheduled fire.
func TestHostServesTheDashboardAndItsLiveStream(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "r.lua", `return {
		rule "bell" { when = event "ring", run = function(ctx, ev) ctx.log.info("ding <b>dong</b>") end },
		rule "morning" { when = cron "0 7 * * *", run = function() end },
	}`)
	r := startHost(t, host.Options{Config: host.Config{Rules: dir}, LoadErrors: func(err error) { t.Errorf("rule file: %v", err) }})
	if status, body := r.do("GET", "/", ""); status != http.StatusOK || !strings.Contains(body, `<script src="/ui/app.js"`) {
		t.Fatalf("GET /: %d %s", status, body)
	}
	var rules []struct {
		ID       string     `json:"id"`
		NextFire *time.Time `json:"next_fire"`
	}
	r.getJSON("/api/rules", &rules)
	var next admin.NextReport
	r.getJSON("/api/rules/morning/next?count=1", &next)
	for _, rule := range rules {
		switch {
		case rule.ID == "bell" && rule.NextFire != nil:
			t.Errorf("bell has no schedule, but a next fire %v", rule.NextFire)
		case rule.ID == "morning" && (rule.NextFire == nil || len(next.Fires) != 1 || !rule.NextFire.Equal(next.Fires[0].Time)):
			t.Errorf("morning's next_fire %v, want %+v", rule.NextFire, next.Fires)
		}
	}

	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(r.base, "http")+"/api/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	// The stream is subscribed once the dial returns.
	if status, body := r.do("POST", "/api/events", `{"name":"ring"}`); status != http.StatusAccepted {
		t.Fatalf("POST /api/events: %d %s", status, body)
	}
	var event, run *admin.FeedMessage
	for run == nil {
		var m admin.FeedMessage
		if err := conn.ReadJSON(&m); err != nil {
			t.Fatalf("stream: %v", err)
		}
		switch {
		case m.Type == "event" && m.Event.Name == "ring":
			event = &m
		case m.Type == "run" && m.Run.Rule == "bell":
			run = &m
		}
	}
	if event == nil || run.Run.EventID != event.Event.ID {
		t.Errorf("the stream sent the run %+v without its event before it (%+v)", run.Run, event)
	}
	if run.Run.Outcome != "ok" || len(run.Run.Log) != 1 || !strings.Contains(run.Run.Log[0], "ding <b>dong</b>") {
		t.Errorf("run in the stream: %+v", run.Run)
	}
	if err := r.shutdown(); err != nil {
		t.Fatalf("host.Run: %v", err)
	}
	// A deadline of its own: on a loaded machine the steps above can use up
	// the first one, and a read past it fails without looking at the close
	// frame waiting in the buffer.
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		_, _, err := conn.ReadMessage()
		if ce, ok := errors.AsType[*websocket.CloseError](err); ok && ce.Code == websocket.CloseGoingAway {
			return
		}
		if err != nil {
			t.Fatalf("stream after the host stopped: %v, want close 1001", err)
		}
	}
}
