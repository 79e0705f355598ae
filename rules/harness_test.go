package rules_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/store"
	"github.com/alexarules/alexarules/rules"
	"github.com/alexarules/alexarules/scripting"
	lua "github.com/yuin/gopher-lua"
)

// harness runs an engine over rule files written into a temp dir, on a
// virtual clock and a real store.
type harness struct {
	t      *testing.T
	dir    string
	db     string
	clock  *engine.Virtual
	store  *store.Store
	engine *engine.Engine
	set    *rules.Set
	opts   rules.Options // Clock and Location are the harness's
	// maxStates is the engine's bound of kept states; 0: the default.
	maxStates int
	cancel    context.CancelFunc
	done      chan struct{}

	mu     sync.Mutex
	traces []engine.Trace
	notify chan struct{}
}

var start = time.Date(2026, 3, 2, 6, 59, 0, 0, time.UTC)

func writeRules(t *testing.T, files map[string]string) string {
	t.Helper()
	return rules.WriteRules(t, files)
}

func newHarness(t *testing.T, files map[string]string) *harness {
	t.Helper()
	return newHarnessOpts(t, files, rules.Options{})
}

// newBoundHarness is newHarness with the bound API bind installs.
func newBoundHarness(t *testing.T, files map[string]string, bind func(*lua.LState, scripting.RunContext)) *harness {
	t.Helper()
	return newHarnessOpts(t, files, rules.Options{Bind: bind})
}

// newHarnessOpts is newHarness with load options (limits, bound API).
func newHarnessOpts(t *testing.T, files map[string]string, opts rules.Options) *harness {
	t.Helper()
	h := &harness{t: t, dir: writeRules(t, files), db: filepath.Join(t.TempDir(), "test.db"),
		clock: engine.NewVirtual(start), opts: opts}
	h.start()
	t.Cleanup(h.stop)
	return h
}

func (h *harness) start() {
	h.t.Helper()
	st, err := store.Open(h.db, store.Options{})
	if err != nil {
		h.t.Fatal(err)
	}
	h.store = st
	opts := h.opts
	opts.Clock, opts.Location = h.clock, time.UTC
	set, err := rules.Load(opts, h.dir)
	if err != nil {
		h.t.Fatal(err)
	}
	h.set = set
	h.notify = make(chan struct{}, 1)
	h.engine = engine.New(engine.Config{Clock: h.clock, Store: st, MaxStates: h.maxStates, OnRun: func(tr engine.Trace) {
		h.mu.Lock()
		h.traces = append(h.traces, tr)
		h.mu.Unlock()
		select {
		case h.notify <- struct{}{}:
		default:
		}
	}})
	var list []*engine.Rule
	for _, l := range set.Rules {
		list = append(list, l.Engine(nil, false))
	}
	if err := h.engine.SetRules(list); err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan struct{})
	go func() {
		defer close(h.done)
		if err := h.engine.Run(ctx); err != nil {
			h.t.Error(err)
		}
	}()
}

func (h *harness) stop() {
	if h.cancel == nil {
		return
	}
	h.cancel()
	<-h.done
	h.cancel = nil
	if err := h.store.Close(); err != nil {
		h.t.Error(err)
	}
}

// restart stops the engine and starts a new one on the same files and
// data, as a process restart would.
func (h *harness) restart() {
	h.stop()
	h.mu.Lock()
	h.traces = nil
	h.mu.Unlock()
	h.start()
}

func (h *harness) publish(ev engine.Event) { h.engine.Publish(ev) }

func (h *harness) emit(name string, data map[string]any) {
	h.publish(engine.Event{Kind: engine.KindCustom, Name: name, Data: data})
}

// waitRuns waits until n traces match pred and returns them.
func (h *harness) waitRuns(n int, pred func(engine.Trace) bool) []engine.Trace {
	h.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		h.mu.Lock()
		var got []engine.Trace
		for _, tr := range h.traces {
			if pred(tr) {
				got = append(got, tr)
			}
		}
		h.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-h.notify:
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			h.t.Fatalf("waited for %d runs, have %d: %+v", n, len(got), h.all())
		}
	}
}

func (h *harness) all() []engine.Trace {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]engine.Trace(nil), h.traces...)
}

func ofRule(id string) func(engine.Trace) bool {
	return func(tr engine.Trace) bool { return tr.Rule == id }
}
