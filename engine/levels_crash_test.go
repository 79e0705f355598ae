package engine_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/enginetest"
	"github.com/alexarules/alexarules/engine/store"
)

// crashingStore is a bbolt store that dies (closes: nothing queued after
// lands) when the engine queues its at-th trigger state write, before that
// write lands: the process's crash at that point.
type crashingStore struct {
	*store.Store
	at int32
	n  atomic.Int32
}

func (c *crashingStore) QueuePut(bucket, key string, value []byte, then func(error)) {
	if c.n.Add(1) == c.at {
		_ = c.Store.Close()
	}
	c.Store.QueuePut(bucket, key, value, then)
}

// A stateful trigger's state is written without waiting, with what
// follows it. Whichever of its writes the process dies before, a restart
// on the same file that is sent the readings the first process did not
// accept runs the rule exactly once per firing: a crash loses and repeats
// no firing, and the trigger does not fire again on a reading that keeps
// it matching.
func TestATriggersStateSurvivesACrashAtEachOfItsWrites(t *testing.T) {
	for _, tc := range enginetest.LevelCases() {
		for at := 1; at <= tc.Puts+1; at++ {
			t.Run(fmt.Sprintf("%s/crash at write %d", tc.Name, at), func(t *testing.T) {
				runs := crashAndRestart(t, tc.Hold, tc.Steps, at)
				seen := map[string]bool{}
				for _, tr := range runs {
					if seen[tr.EventID] {
						t.Errorf("event %s ran twice", tr.EventID)
					}
					seen[tr.EventID] = true
				}
				if len(runs) != 2 {
					t.Errorf("%d runs, want 2 (one per firing): %+v", len(runs), runs)
				}
			})
		}
	}
}

// crashAndRestart sends steps to an engine whose store dies at its at-th
// trigger state write, then to a second engine on the same file the steps
// the first did not take, and returns the stored traces of the rule's
// runs that ran.
func crashAndRestart(t *testing.T, hold time.Duration, steps []enginetest.LevelStep, at int) []engine.Trace {
	path := filepath.Join(t.TempDir(), "l.db")
	rule := func() *engine.Rule {
		r := goRule("hot", engine.ModeQueued, 10, noop)
		r.Triggers = []engine.Trigger{{Kind: engine.KindReading, Hold: hold,
			Level: func(ev *engine.Event) bool { v, _ := ev.Data["value"].(float64); return v > 10 }}}
		return r
	}
	cs := &crashingStore{Store: openStore(t, path), at: int32(at)}
	clock := engine.NewVirtual(d0)
	ctx, cancel := context.WithCancel(context.Background())
	e := engine.New(engine.Config{Store: cs, Clock: clock})
	if err := e.SetRules([]*engine.Rule{rule()}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	next := enginetest.SendLevelSteps(t, e, clock, steps, func() bool { return cs.n.Load() >= cs.at })
	cancel()
	<-done
	_ = cs.Close()

	st := openStore(t, path)
	t.Cleanup(func() { st.Close() })
	// A second later: event ids are unique per process and time, and the
	// virtual clock stands still.
	clock2 := engine.NewVirtual(clock.Now().Add(time.Second))
	e2, _ := startEngine(t, st, clock2, engine.Config{}, rule())
	// The replay has stepped every event it took once the inbox is empty
	// (Idle may be true before the replay starts).
	waitInboxEmpty(t, st)
	enginetest.SendLevelSteps(t, e2, clock2, steps[next:], func() bool { return false })
	waitInboxEmpty(t, st)
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	all, err := st.Runs("hot", 100)
	if err != nil {
		t.Fatal(err)
	}
	var ran []engine.Trace
	for _, tr := range all {
		if tr.Outcome == engine.OutcomeOK {
			ran = append(ran, tr)
		}
	}
	return ran
}
