package engine_test

import (
	"context"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
)

// Holds lists a rule's running holds per trigger and device, and forgets
// one whose state left the match; other rules' holds are not its own,
// even when their id starts with its id.
func TestHoldsListARulesRunningHolds(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "h.db"))
	t.Cleanup(func() { st.Close() })
	warm := func(id string, hold time.Duration) *engine.Rule {
		r := goRule(id, engine.ModeQueued, 10, noop)
		r.Triggers = []engine.Trigger{{Kind: engine.KindCustom, Keys: []string{"go"}}, {Kind: engine.KindReading, Hold: hold,
			Level: func(ev *engine.Event) bool { v, _ := ev.Data["value"].(float64); return v > 10 }}}
		return r
	}
	// Events published before Run has replayed the inbox wait behind the
	// replay, where SyncTriggers does not see them: start first.
	started := make(chan struct{})
	cfg := engine.Config{OnEvent: func(ev engine.Event) {
		if ev.Kind == engine.KindStartup {
			close(started)
		}
	}}
	e, _ := startEngine(t, st, engine.NewVirtual(d0), cfg, warm("warm", 10*time.Minute), warm("warm-2", time.Hour))
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the engine did not start")
	}
	reading := func(dev string, v float64) {
		t.Helper()
		e.Publish(engine.Event{Kind: engine.KindReading, Device: &engine.Device{ID: dev}, Data: map[string]any{"value": v}})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.SyncTriggers(ctx); err != nil {
			t.Fatal(err)
		}
	}
	reading("t2", 20)
	reading("t1", 20)
	want := []engine.Hold{{Trigger: 1, Device: "t1", Due: d0.Add(10 * time.Minute)}, {Trigger: 1, Device: "t2", Due: d0.Add(10 * time.Minute)}}
	if got := e.Holds("warm"); !reflect.DeepEqual(got, want) {
		t.Errorf("Holds(warm) = %+v, want %+v", got, want)
	}
	if got := e.Holds("warm-2"); len(got) != 2 || !got[0].Due.Equal(d0.Add(time.Hour)) {
		t.Errorf("Holds(warm-2) = %+v, want two holds due at %v", got, d0.Add(time.Hour))
	}
	reading("t2", 5)
	if got := e.Holds("warm"); len(got) != 1 || got[0].Device != "t1" {
		t.Errorf("Holds(warm) after t2 cooled = %+v, want only t1's", got)
	}
	if got := e.Holds("nope"); got == nil || len(got) != 0 {
		t.Errorf("Holds(nope) = %#v, want empty, not nil", got)
	}
}
