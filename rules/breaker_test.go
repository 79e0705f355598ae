package rules_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/alexarules/alexarules/alexa"
	"github.com/alexarules/alexarules/alexa/bridge"
	"github.com/alexarules/alexarules/alexa/sim"
	"github.com/alexarules/alexarules/alexa/web"
	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/enginetest"
	"github.com/alexarules/alexarules/scripting"
)

// simHousehold serves the alexa.* calls this test's rule makes from the
// bridge; the others are not used here (the nil Household would panic).
type simHousehold struct {
	scripting.Household
	b *bridge.Bridge
}

var errNotInTest = errors.New("not used by this test")

func (h *simHousehold) ResolveEcho(ctx context.Context, q string) (scripting.Echo, error) {
	e, err := h.b.ResolveEcho(ctx, q)
	return scripting.Echo{Serial: e.Serial, Name: e.Name}, err
}

func (h *simHousehold) Remind(ctx context.Context, r scripting.Reminder) (string, error) {
	e, err := h.b.ResolveEcho(ctx, r.Echo.Serial)
	if err != nil {
		return "", err
	}
	return h.b.Remind(ctx, web.ReminderRequest{Echo: e, Text: r.Text, At: r.At, Recurrence: r.Repeat})
}

func (h *simHousehold) SetNotificationVolume(context.Context, scripting.Echo, int) error {
	return errNotInTest
}
func (h *simHousehold) Alarms(scripting.Echo) []scripting.Alarm { return nil }
func (h *simHousehold) ListItems(context.Context, string) ([]scripting.ListItem, error) {
	return nil, errNotInTest
}
func (h *simHousehold) AddListItem(context.Context, string, string) (scripting.ListItem, error) {
	return scripting.ListItem{}, errNotInTest
}
func (h *simHousehold) CheckListItem(context.Context, string, string) error  { return errNotInTest }
func (h *simHousehold) RemoveListItem(context.Context, string, string) error { return errNotInTest }

// A rule that creates a reminder whenever a reminder is created triggers
// itself through the cloud: the simulated Alexa cloud reports its reminder
// back, the bridge turns that into an alexa.reminder event without a
// cause, and the rule runs again. The breaker stops it after its
// documented rate: 20 such runs within a minute.
func TestTheRunawayBreakerStopsALoopThroughTheSimulatedCloud(t *testing.T) {
	hh := &simHousehold{}
	var clock engine.Clock // the harness's, once it exists
	h := newBoundHarness(t, map[string]string{"loop.lua": `
return rule "echo-chamber" {
  when = { event "start", alexa.reminder { device = "Kitchen Echo", state = "created" } },
  mode = "queued",
  run = function(ctx, ev)
    alexa.remind { device = "Kitchen Echo", text = "again", ["in"] = "1d" }
  end,
}`}, func(L *lua.LState, run scripting.RunContext) { scripting.OpenAlexa(L, run, hh, clock) })
	clock = h.clock

	cloud := sim.New(sim.DemoHousehold(), sim.Options{Now: h.clock.Now})
	srv := httptest.NewServer(cloud.Handler())
	t.Cleanup(srv.Close)
	hosts, err := alexa.HostsFor("DE", srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	requests := &enginetest.LogBuffer{}
	wc, err := web.New(web.Options{Hosts: hosts, Cookie: web.SimCookie, Now: h.clock.Now,
		Logger: requests.Logger(slog.LevelDebug)})
	if err != nil {
		t.Fatal(err)
	}
	hh.b, err = bridge.New(bridge.Options{Web: wc, Clock: h.clock, Store: h.store, Country: "DE", Publish: h.engine.Publish})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	bridgeDone := make(chan struct{})
	go func() { _ = hh.b.Run(ctx); close(bridgeDone) }()
	t.Cleanup(func() { cancel(); <-bridgeDone })

	// The bridge's first notifications fetch is its baseline. The virtual
	// clock runs the debounced fetch inside Advance.
	deadline := time.Now().Add(10 * time.Second)
	for countRequests(cloud, "/api/notifications") == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the bridge never fetched notifications")
		}
		h.clock.Advance(time.Second)
		time.Sleep(5 * time.Millisecond) // poll, do not spin, while the bridge starts
	}

	// Each round: the rule's run creates a reminder and arms the debounced
	// fetch; advancing the clock runs the fetch, whose created event
	// triggers the rule again.
	h.emit("start", nil)
	var last engine.Trace
	for i := 1; i <= engine.DefaultBreakerRuns+1; i++ {
		last = h.waitRuns(i, ofRule("echo-chamber"))[i-1]
		if last.Outcome != engine.OutcomeOK {
			break
		}
		h.clock.Advance(2 * time.Second)
	}
	runs := h.waitRuns(0, ofRule("echo-chamber"))
	if n := len(runs); n != engine.DefaultBreakerRuns+1 || last.Outcome != engine.OutcomeSkipped ||
		!strings.HasPrefix(last.Reason, "runaway breaker: 20 runs within 1m0s") {
		t.Fatalf("the start run and 19 echoes run, the 20th echo trips the breaker; got %d runs, last %+v", n, last)
	}
	if n := countRequests(cloud, "/api/notifications/createReminder"); n != engine.DefaultBreakerRuns {
		t.Fatalf("%d reminders created, want one per run before the trip (%d)", n, engine.DefaultBreakerRuns)
	}
	info := h.engine.Rules()[0]
	if !strings.HasPrefix(info.Breaker, "tripped until ") || info.BreakerTrips != 1 {
		t.Fatalf("the rule's breaker in GET /api/rules: %+v", info)
	}
	// The loop is broken: nothing is left to fetch, and no reminder follows.
	h.clock.Advance(time.Minute)
	if n := countRequests(cloud, "/api/notifications/createReminder"); n != engine.DefaultBreakerRuns {
		t.Fatalf("%d reminders after the trip", n)
	}
	checkActionOrigin(t, runs[1], requests.String())
}

// checkActionOrigin checks that the run's action names its rule and event,
// and that the request it made was logged with both.
func checkActionOrigin(t *testing.T, run engine.Trace, log string) {
	t.Helper()
	if len(run.Actions) != 1 || run.Actions[0].Call != "remind" || run.Actions[0].Rule != "echo-chamber" ||
		run.Actions[0].EventID != run.EventID || run.EventID == "" {
		t.Fatalf("the action names its rule and event: %+v", run)
	}
	want := "path=/api/notifications/createReminder status=200 attempt=1 rule=echo-chamber event=" + run.EventID
	if !strings.Contains(log, want) {
		t.Fatalf("no request log line %q in\n%s", want, log)
	}
}

func countRequests(s *sim.Server, path string) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Path == path {
			n++
		}
	}
	return n
}
