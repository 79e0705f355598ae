package engine_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/enginetest"
	"github.com/alexarules/alexarules/engine/store"
)

// timersSignal closes replayed when Run asks for the timers, which it does
// right after its replay of the inbox.
type timersSignal struct {
	*store.Store
	replayed chan struct{}
	once     sync.Once
}

func (s *timersSignal) Timers() ([]engine.TimerRecord, error) {
	s.once.Do(func() { close(s.replayed) })
	return s.Store.Timers()
}

// failAfterReplay fails Accept once the replay is over, as a disk error
// would.
type failAfterReplay struct {
	*timersSignal
	accepting chan struct{}
}

func (s *failAfterReplay) Accept(ev engine.Event, journal bool, then func(bool, error)) {
	close(s.accepting)
	<-s.replayed
	then(false, errors.New("disk on fire"))
}

// TestAFailedReAcceptDuringReplayRunsOnce (a review finding): an event in
// the inbox published again (a schedule tick fired again after a crash)
// while the replay runs, whose write fails. The replay leaves the event to
// that write; the write, failing, hands it back: the event runs once, not
// also undurably from the failed Publish.
func TestAFailedReAcceptDuringReplayRunsOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	st := openStore(t, path)
	ev := engine.Event{ID: "x-1", Kind: engine.KindCustom, Name: "go", Time: d0}
	done := make(chan struct{})
	st.Accept(ev, true, func(bool, error) { close(done) })
	<-done
	st.Close()
	st = openStore(t, path)
	t.Cleanup(func() { st.Close() })
	fs := &failAfterReplay{timersSignal: &timersSignal{Store: st, replayed: make(chan struct{})}, accepting: make(chan struct{})}
	var runs atomic.Int32
	e := engine.New(engine.Config{Store: fs, Clock: engine.NewVirtual(d0)})
	if err := e.SetRules([]*engine.Rule{goRule("a", engine.ModeQueued, 10, func(context.Context, *engine.Invocation) engine.Result {
		runs.Add(1)
		return engine.Result{}
	})}); err != nil {
		t.Fatal(err)
	}
	go e.Publish(ev)
	<-fs.accepting
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- e.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-ran })
	enginetest.WaitUntil(t, "x-1 ran", func() bool { return runs.Load() >= 1 })
	waitInboxEmpty(t, st)
	enginetest.WaitUntil(t, "idle", e.Idle)
	if n := runs.Load(); n != 1 {
		t.Fatalf("x-1 ran %d times, want 1", n)
	}
}
