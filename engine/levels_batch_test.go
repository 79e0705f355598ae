package engine_test

import (
	"context"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/enginetest"
)

// gatedPuts is a store whose Puts of trigger states wait for a gate once
// it is closed, and which tracks how many are in flight at once.
type gatedPuts struct {
	engine.Store
	mu             sync.Mutex
	hold           chan struct{} // while set, Puts wait for it to close
	held           chan struct{} // told of each Put that waits
	inFlight, most int
}

func (g *gatedPuts) Put(bucket, key string, value []byte) error {
	g.mu.Lock()
	g.inFlight++
	g.most = max(g.most, g.inFlight)
	hold := g.hold
	g.mu.Unlock()
	if hold != nil {
		g.held <- struct{}{}
		<-hold
	}
	err := g.Store.Put(bucket, key, value)
	g.mu.Lock()
	g.inFlight--
	g.mu.Unlock()
	return err
}

// The transitions of events queued while a state is written are written
// together (one transaction), not one after another: one goroutine saving
// each alone paid one fsync per transition, which capped pushed readings
// at a few hundred per second.
func TestTriggerStatesOfQueuedEventsAreWrittenTogether(t *testing.T) {
	st := openStore(t, filepath.Join(t.TempDir(), "l.db"))
	t.Cleanup(func() { st.Close() })
	g := &gatedPuts{Store: st, held: make(chan struct{}, 100)}
	r := goRule("warm", engine.ModeParallel, 10, noop)
	r.Triggers = []engine.Trigger{{Kind: engine.KindReading,
		Level: func(ev *engine.Event) bool { v, _ := ev.Data["value"].(float64); return v > 10 }}}
	e, _ := startEngine(t, g, engine.NewVirtual(d0), engine.Config{}, r)
	reading := func(dev string) {
		e.Publish(engine.Event{Kind: engine.KindReading, Device: &engine.Device{ID: dev}, Data: map[string]any{"value": 20.0}})
	}
	release := make(chan struct{})
	g.mu.Lock()
	g.hold = release
	g.mu.Unlock()
	reading("first")
	<-g.held // the first transition is being written
	for i := range 9 {
		reading("d" + strconv.Itoa(i))
	}
	g.mu.Lock()
	g.hold = nil
	g.mu.Unlock()
	enginetest.WaitUntil(t, "the nine readings queued for the triggers", func() bool { return engine.LevelsQueued(e) == 9 })
	close(release)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.SyncTriggers(ctx); err != nil {
		t.Fatal(err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.most < 9 {
		t.Fatalf("at most %d trigger states written at once; want the 9 queued ones together", g.most)
	}
}
