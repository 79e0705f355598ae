package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/store"
)

// nullStore keeps nothing, so the engine benchmarks measure routing and the
// runners alone (rules/bench_test.go measures the whole path).
type nullStore struct{}

func (nullStore) Commit(engine.Commit) error                            { return nil }
func (nullStore) RecordTrace(engine.Trace)                              {}
func (nullStore) RuleState(string) (json.RawMessage, error)             { return nil, nil }
func (nullStore) Global() (map[string]json.RawMessage, error)           { return nil, nil }
func (nullStore) Timers() ([]engine.TimerRecord, error)                 { return nil, nil }
func (nullStore) RecordEvent(engine.EventRecord)                        {}
func (nullStore) Accept(_ engine.Event, _ bool, then func(bool, error)) { then(true, nil) }
func (nullStore) Inbox() ([]engine.Pending, error)                      { return nil, nil }
func (nullStore) Complete(string)                                       {}
func (nullStore) RecentEvents(int) ([]engine.EventRecord, error)        { return nil, nil }
func (nullStore) Runs(string, int) ([]engine.Trace, error)              { return nil, nil }
func (nullStore) Get(string, string) ([]byte, error)                    { return nil, nil }
func (nullStore) Put(string, string, []byte) error                      { return nil }
func (nullStore) Delete(string, string) error                           { return nil }
func (nullStore) List(string, string) (map[string][]byte, error)        { return nil, nil }

// noopInstance is a rule whose run does nothing.
type noopInstance struct{}

func (noopInstance) Run(context.Context, *engine.Invocation) engine.Result { return engine.Result{} }
func (noopInstance) Close()                                                {}

// BenchmarkDispatchEngine publishes custom events to `total` rules of which
// `hot` match, with Go instances that do nothing and a store that keeps
// nothing: the engine's own cost per event (index, inbox, coordinator,
// worker, trace). One op is one event, published until its runs finished;
// each rule has at most 64 events in flight so no inbox overflows.
func BenchmarkDispatchEngine(b *testing.B) {
	for _, c := range []struct{ total, hot int }{{1, 1}, {3, 3}, {1000, 3}} {
		b.Run(fmt.Sprintf("rules=%d/match=%d", c.total, c.hot), func(b *testing.B) {
			slots := map[string]chan struct{}{}
			var rules []*engine.Rule
			for i := range c.total {
				id, name := fmt.Sprintf("idle-%d", i), fmt.Sprintf("e%d", i)
				if i < c.hot {
					id, name = fmt.Sprintf("hot-%d", i), "hot"
					slots[id] = make(chan struct{}, 64)
				}
				rules = append(rules, &engine.Rule{ID: id, Enabled: true, Mode: engine.ModeQueued, Max: 1000,
					Timeout: time.Second, Triggers: []engine.Trigger{{Kind: engine.KindCustom, Keys: []string{name}}},
					NewInstance: func() (engine.Instance, error) { return noopInstance{}, nil }})
			}
			e := engine.New(engine.Config{Store: nullStore{}, OnRun: func(tr engine.Trace) {
				if s := slots[tr.Rule]; s != nil {
					<-s
				}
			}})
			if err := e.SetRules(rules); err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { _ = e.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				for _, s := range slots {
					s <- struct{}{}
				}
				e.Publish(engine.Event{Kind: engine.KindCustom, Name: "hot"})
			}
			for _, s := range slots {
				for range cap(s) {
					s <- struct{}{}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkAccept measures Engine.Accept with a bbolt store (fsync on):
// each call returns once the event is durable in the inbox, as the admin
// API's 202 does. One op is one accepted event; clients call Accept
// concurrently, so their events share transactions. A no-op rule runs each
// event; the benchmark waits for those runs too.
func BenchmarkAccept(b *testing.B) {
	for _, clients := range []int{1, 32} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			st, err := store.Open(filepath.Join(b.TempDir(), "bench.db"), store.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			var ran atomic.Int64
			e := engine.New(engine.Config{Store: st, MaxBacklog: 1 << 30, OnRun: func(engine.Trace) { ran.Add(1) }})
			rule := &engine.Rule{ID: "r", Enabled: true, Mode: engine.ModeQueued, Max: 1 << 30, Timeout: time.Minute,
				Triggers:    []engine.Trigger{{Kind: engine.KindCustom, Keys: []string{"hot"}}},
				NewInstance: func() (engine.Instance, error) { return noopInstance{}, nil }}
			if err := e.SetRules([]*engine.Rule{rule}); err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { _ = e.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			begin := time.Now()
			for range clients {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						if _, err := e.Accept(engine.Event{Kind: engine.KindCustom, Name: "hot"}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			accepted := time.Since(begin)
			for ran.Load() < int64(b.N) {
				time.Sleep(time.Millisecond)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/accepted.Seconds(), "accepted/s")
			b.ReportMetric(float64(b.N)/time.Since(begin).Seconds(), "ran/s")
		})
	}
}
