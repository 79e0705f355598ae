package engine_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
)

func TestVirtualClockRunsDueFunctionsInOrder(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	v := engine.NewVirtual(start)
	var got []string
	v.AfterFunc(2*time.Second, func() { got = append(got, "b@"+v.Now().Sub(start).String()) })
	v.AfterFunc(time.Second, func() {
		got = append(got, "a@"+v.Now().Sub(start).String())
		v.AfterFunc(500*time.Millisecond, func() { got = append(got, "a2@"+v.Now().Sub(start).String()) })
	})
	stopped := v.AfterFunc(1500*time.Millisecond, func() { got = append(got, "never") })
	if !stopped.Stop() || stopped.Stop() {
		t.Fatal("Stop must report true once, for a pending function")
	}
	v.Advance(3 * time.Second)
	want := []string{"a@1s", "a2@1.5s", "b@2s"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	if v.Now() != start.Add(3*time.Second) || v.Pending() != 0 {
		t.Fatalf("now %v, pending %d", v.Now(), v.Pending())
	}
}

// memStore is the smallest engine.Store for routing tests.
type memStore struct {
	mu     sync.Mutex
	traces []engine.Trace
}

func (m *memStore) Commit(c engine.Commit) error { m.RecordTrace(c.Trace); return nil }
func (m *memStore) RecordTrace(t engine.Trace) {
	m.mu.Lock()
	m.traces = append(m.traces, t)
	m.mu.Unlock()
}
func (m *memStore) RuleState(string) (json.RawMessage, error)             { return nil, nil }
func (m *memStore) Global() (map[string]json.RawMessage, error)           { return nil, nil }
func (m *memStore) Timers() ([]engine.TimerRecord, error)                 { return nil, nil }
func (m *memStore) RecordEvent(engine.EventRecord)                        {}
func (m *memStore) Accept(_ engine.Event, _ bool, then func(bool, error)) { then(true, nil) }
func (m *memStore) Inbox() ([]engine.Pending, error)                      { return nil, nil }
func (m *memStore) Complete(string)                                       {}
func (m *memStore) RecentEvents(int) ([]engine.EventRecord, error)        { return nil, nil }
func (m *memStore) Runs(string, int) ([]engine.Trace, error)              { return nil, nil }
func (m *memStore) Get(string, string) ([]byte, error)                    { return nil, nil }
func (m *memStore) Put(string, string, []byte) error                      { return nil }
func (m *memStore) Delete(string, string) error                           { return nil }
func (m *memStore) List(string, string) (map[string][]byte, error)        { return nil, nil }

type recordInstance struct {
	rule string
	seen chan<- string
}

func (r recordInstance) Run(ctx context.Context, inv *engine.Invocation) engine.Result {
	r.seen <- r.rule + ":" + inv.Event.ID
	return engine.Result{}
}
func (recordInstance) Close() {}

func TestIndexRoutesByKindAndDeviceNameOrID(t *testing.T) {
	seen := make(chan string, 10)
	mk := func(id string, trig engine.Trigger) *engine.Rule {
		return &engine.Rule{ID: id, Enabled: true, Mode: engine.ModeQueued, Max: 10, Timeout: time.Second,
			Triggers: []engine.Trigger{trig},
			NewInstance: func() (engine.Instance, error) {
				return recordInstance{rule: id, seen: seen}, nil
			}}
	}
	e := engine.New(engine.Config{Store: &memStore{}})
	err := e.SetRules([]*engine.Rule{
		mk("by-name", engine.Trigger{Kind: engine.KindAlarm, Keys: []string{"Bedroom Echo"}}),
		mk("by-id", engine.Trigger{Kind: engine.KindAlarm, Keys: []string{"G090XX"}}),
		mk("any", engine.Trigger{Kind: engine.KindAlarm}),
		mk("other-kind", engine.Trigger{Kind: engine.KindTimer}),
		mk("filtered", engine.Trigger{Kind: engine.KindAlarm, Match: func(ev *engine.Event) bool { return ev.Data["state"] == "ringing" }}),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = e.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	e.Publish(engine.Event{ID: "e1", Kind: engine.KindAlarm, Device: &engine.Device{Name: "bedroom echo", ID: "g090xx"},
		Data: map[string]any{"state": "created"}})
	got := map[string]bool{}
	for range 3 {
		select {
		case s := <-seen:
			got[s] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("only %v ran", got)
		}
	}
	for _, want := range []string{"by-name:e1", "by-id:e1", "any:e1"} {
		if !got[want] {
			t.Fatalf("%s did not run: %v", want, got)
		}
	}
	select {
	case s := <-seen:
		t.Fatalf("unexpected run %s", s)
	case <-time.After(100 * time.Millisecond):
	}
}
