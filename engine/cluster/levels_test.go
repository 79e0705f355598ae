package cluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/cluster"
	"github.com/alexarules/alexarules/engine/cluster/natstest"
	"github.com/alexarules/alexarules/engine/enginetest"
	"github.com/nats-io/nats-server/v2/server"
)

// fencingStore is a partition owner's store that another node claims
// when the engine queues its at-th trigger state write, before that
// write: from then on every write of the owner is refused, as if it had
// died there (kill -9 at that write).
type fencingStore struct {
	*cluster.Store
	at      int32
	n       atomic.Int32
	claim   func() (*cluster.Store, error)
	claimed chan *cluster.Store
}

func (f *fencingStore) QueuePut(bucket, key string, value []byte, then func(error)) {
	if f.n.Load()+1 == f.at {
		st, err := f.claim()
		if err != nil {
			panic(err) // on the engine's goroutine: no t.Fatal
		}
		f.claimed <- st
	}
	f.n.Add(1)
	f.Store.QueuePut(bucket, key, value, then)
}

// ranEvents is the state of heldRule: the events its committed runs ran.
type ranEvents struct{ Events []string }

func heldRule(hold time.Duration) *engine.Rule {
	run := func(_ context.Context, inv *engine.Invocation) engine.Result {
		var st ranEvents
		_ = json.Unmarshal(inv.State, &st)
		st.Events = append(st.Events, inv.Event.ID)
		b, _ := json.Marshal(st)
		return engine.Result{State: b}
	}
	return &engine.Rule{ID: "hot", File: "hot.lua", Enabled: true, Mode: engine.ModeQueued, Max: 10, Timeout: time.Minute,
		Triggers: []engine.Trigger{{Kind: engine.KindReading, Hold: hold,
			Level: func(ev *engine.Event) bool { v, _ := ev.Data["value"].(float64); return v > 10 }}},
		NewInstance: func() (engine.Instance, error) { return funcInstance(run), nil }}
}

// In cluster mode, as in a single process, a stateful trigger's state
// rides with what it causes (engine.PutQueuer), and the state a hold's
// expiry leaves is accepted with the hold's event (engine.Event.Writes):
// whichever of the trigger's state writes the owner dies before, the node
// that takes the partition over runs the rule exactly once per firing.
func TestATriggersStateSurvivesAnOwnersDeathAtEachOfItsWrites(t *testing.T) {
	for _, tc := range enginetest.LevelCases() {
		for at := 1; at <= tc.Puts+1; at++ {
			t.Run(fmt.Sprintf("%s/death at write %d", tc.Name, at), func(t *testing.T) {
				ran := dieAndTakeOver(t, tc.Hold, tc.Steps, at)
				if len(ran) != 2 || ran[0] == ran[1] {
					t.Errorf("committed runs of %v, want two events, one per firing", ran)
				}
			})
		}
	}
}

// dieAndTakeOver sends steps to the engine of a partition's owner that
// dies at its at-th trigger state write, then, on the store of the node
// that claims the partition, to a second engine the steps the first did
// not take, and returns the events of the rule's committed runs.
func dieAndTakeOver(t *testing.T, hold time.Duration, steps []enginetest.LevelStep, at int) []string {
	s := natstest.Start(t, t.TempDir(), server.RANDOM_PORT)
	c2 := dial(t, s.ClientURL(), "n2")
	fs := &fencingStore{Store: claim(t, dial(t, s.ClientURL(), "n1"), "n1"), at: int32(at),
		claimed: make(chan *cluster.Store, 1),
		claim:   func() (*cluster.Store, error) { return c2.Claim(t.Context(), t.Context(), "p", "n2") }}
	clock := engine.NewVirtual(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	e1, stop := runEngine(t, fs, clock, heldRule(hold))
	next := enginetest.SendLevelSteps(t, e1, clock, steps, func() bool { return fs.n.Load() >= fs.at })
	stop()
	var cur *cluster.Store
	select {
	case cur = <-fs.claimed:
	default:
		cur = claim(t, c2, "n2") // no death: a takeover all the same
	}
	// A second later: event ids are unique per process and time, and the
	// virtual clock stands still.
	clock2 := engine.NewVirtual(clock.Now().Add(time.Second))
	e2, stop2 := runEngine(t, cur, clock2, heldRule(hold))
	defer stop2()
	waitInboxEmpty(t, cur)
	enginetest.SendLevelSteps(t, e2, clock2, steps[next:], func() bool { return false })
	waitInboxEmpty(t, cur)
	raw, err := cur.RuleState("hot")
	var st ranEvents
	if err != nil || (raw != nil && json.Unmarshal(raw, &st) != nil) {
		t.Fatalf("state %s: %v", raw, err)
	}
	return st.Events
}

// runEngine runs an engine of rule on st until stop.
func runEngine(t *testing.T, st engine.Store, clock engine.Clock, rule *engine.Rule) (*engine.Engine, func()) {
	t.Helper()
	e := engine.New(engine.Config{Store: st, Clock: clock})
	if err := e.SetRules([]*engine.Rule{rule}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = e.Run(ctx); close(done) }()
	return e, func() { cancel(); <-done }
}

func waitInboxEmpty(t *testing.T, st *cluster.Store) {
	t.Helper()
	waitLong(t, "an empty inbox", func() bool {
		p, err := st.Inbox()
		return err == nil && len(p) == 0
	})
}
