package store_test

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/store"
	bolt "go.etcd.io/bbolt"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func openStore(t testing.TB, path string, opts store.Options) *store.Store {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "alexarules.db")
	}
	s, err := store.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func trace(rule, id string, started time.Time) engine.Trace {
	return engine.Trace{ID: id, Rule: rule, Started: started, Outcome: engine.OutcomeOK}
}

func ids(traces []engine.Trace) []string {
	out := make([]string, len(traces))
	for i, t := range traces {
		out[i] = t.ID
	}
	return out
}

func TestCommitStoresEverything(t *testing.T) {
	s := openStore(t, "", store.Options{})
	c := engine.Commit{
		Rule: "porch",
		Trace: engine.Trace{
			ID: "run-1", Rule: "porch", Started: t0, Outcome: engine.OutcomeOK,
			Actions: []engine.Action{{Call: "set_power", Device: "Porch", Args: map[string]any{"on": true}}},
			Log:     []string{"hello"},
		},
		RuleState: json.RawMessage(`{"count":1}`),
		GlobalSet: map[string]json.RawMessage{"mode": json.RawMessage(`"home"`), "n": json.RawMessage(`3`)},
		PutTimers: []engine.TimerRecord{
			{ID: "t2", Rule: "porch", Handler: "off", Due: t0.Add(2 * time.Minute), Created: t0},
			{ID: "t1", Rule: "porch", Handler: "dim", Args: json.RawMessage(`{"level":10}`), Due: t0.Add(time.Minute), Created: t0},
		},
	}
	if err := s.Commit(c); err != nil {
		t.Fatal(err)
	}

	state, err := s.RuleState("porch")
	if err != nil || string(state) != `{"count":1}` {
		t.Errorf("RuleState = %s, %v", state, err)
	}
	if state, err := s.RuleState("other"); err != nil || state != nil {
		t.Errorf("RuleState of a rule without state = %q, %v; want nil", state, err)
	}
	global, err := s.Global()
	if err != nil || len(global) != 2 || string(global["mode"]) != `"home"` || string(global["n"]) != `3` {
		t.Errorf("Global = %v, %v", global, err)
	}
	timers, err := s.Timers()
	if err != nil {
		t.Fatal(err)
	}
	if len(timers) != 2 || timers[0].ID != "t1" || timers[1].ID != "t2" {
		t.Fatalf("Timers = %+v, want t1 then t2 (by due time)", timers)
	}
	if timers[0].Handler != "dim" || string(timers[0].Args) != `{"level":10}` || !timers[0].Due.Equal(t0.Add(time.Minute)) {
		t.Errorf("timer t1 = %+v", timers[0])
	}
	for _, rule := range []string{"porch", ""} {
		runs, err := s.Runs(rule, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) != 1 || runs[0].ID != "run-1" || runs[0].Actions[0].Device != "Porch" || runs[0].Log[0] != "hello" || !runs[0].Started.Equal(t0) {
			t.Errorf("Runs(%q) = %+v", rule, runs)
		}
	}
}

func TestCommitChangesAndDeletes(t *testing.T) {
	s := openStore(t, "", store.Options{})
	must := func(c engine.Commit) {
		t.Helper()
		if err := s.Commit(c); err != nil {
			t.Fatal(err)
		}
	}
	must(engine.Commit{
		Rule:      "a",
		RuleState: json.RawMessage(`1`),
		GlobalSet: map[string]json.RawMessage{"x": json.RawMessage(`1`), "y": json.RawMessage(`2`)},
		PutTimers: []engine.TimerRecord{{ID: "keep", Rule: "a", Due: t0}, {ID: "gone", Rule: "a", Due: t0}, {ID: "again", Rule: "a", Due: t0}},
	})
	// A commit without trace and with nil state leaves the state alone;
	// a fired timer rescheduled under its id stays.
	must(engine.Commit{
		Rule:         "a",
		GlobalSet:    map[string]json.RawMessage{"y": json.RawMessage(`20`)},
		GlobalDelete: []string{"x", "never-set"},
		DeleteTimers: []string{"gone", "again", "unknown"},
		PutTimers:    []engine.TimerRecord{{ID: "again", Rule: "a", Due: t0.Add(time.Hour)}},
	})
	if state, _ := s.RuleState("a"); string(state) != `1` {
		t.Errorf("state = %s, want it unchanged", state)
	}
	global, _ := s.Global()
	if len(global) != 1 || string(global["y"]) != `20` {
		t.Errorf("Global = %v, want only y=20", global)
	}
	timers, _ := s.Timers()
	if got := slices.Sorted(func(yield func(string) bool) {
		for _, tm := range timers {
			if !yield(tm.ID) {
				return
			}
		}
	}); !slices.Equal(got, []string{"again", "keep"}) {
		t.Errorf("timers = %v, want again and keep", got)
	}
	if runs, _ := s.Runs("", 0); len(runs) != 0 {
		t.Errorf("commits without trace stored runs: %v", ids(runs))
	}
}

func TestCommitRejectsBadInput(t *testing.T) {
	tests := []struct {
		name string
		c    engine.Commit
	}{
		{"state is not JSON", engine.Commit{Rule: "a", RuleState: json.RawMessage(`{`)}},
		{"state without rule", engine.Commit{RuleState: json.RawMessage(`1`)}},
		{"global not JSON", engine.Commit{Rule: "a", GlobalSet: map[string]json.RawMessage{"k": json.RawMessage(`nope`)}}},
		{"empty global key", engine.Commit{Rule: "a", GlobalSet: map[string]json.RawMessage{"": json.RawMessage(`1`)}}},
		{"empty global delete", engine.Commit{Rule: "a", GlobalDelete: []string{""}}},
		{"timer without id", engine.Commit{Rule: "a", PutTimers: []engine.TimerRecord{{Rule: "a"}}}},
		{"timer args not JSON", engine.Commit{Rule: "a", PutTimers: []engine.TimerRecord{{ID: "t", Args: json.RawMessage(`{`)}}}},
		{"delete timer without id", engine.Commit{Rule: "a", DeleteTimers: []string{""}}},
		{"trace without rule", engine.Commit{Trace: trace("", "run", t0)}},
	}
	s := openStore(t, "", store.Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Each bad commit also carries a valid global key: nothing of a
			// refused commit may land.
			if tt.c.GlobalSet == nil {
				tt.c.GlobalSet = map[string]json.RawMessage{"landed": json.RawMessage(`true`)}
			}
			if err := s.Commit(tt.c); err == nil {
				t.Fatal("Commit succeeded, want an error")
			}
			if global, _ := s.Global(); len(global) != 0 {
				t.Errorf("a refused commit wrote %v", global)
			}
		})
	}
}

func TestCommitKeepsUnencodableActionsAsText(t *testing.T) {
	s := openStore(t, "", store.Options{})
	tr := trace("a", "run", t0)
	tr.Actions = []engine.Action{{Call: "set_level", Args: math.NaN(), Result: "ok"}}
	if err := s.Commit(engine.Commit{Rule: "a", Trace: tr, RuleState: json.RawMessage(`2`)}); err != nil {
		t.Fatal(err)
	}
	runs, err := s.Runs("a", 0)
	if err != nil || len(runs) != 1 {
		t.Fatalf("Runs = %v, %v", runs, err)
	}
	if runs[0].Actions[0].Args != "NaN" || runs[0].Actions[0].Result != "ok" {
		t.Errorf("action = %+v, want NaN args as text", runs[0].Actions[0])
	}
	if state, _ := s.RuleState("a"); string(state) != `2` {
		t.Errorf("state = %s, want 2", state)
	}
}

func TestRunsNewestFirstAcrossRules(t *testing.T) {
	s := openStore(t, "", store.Options{})
	// Committed out of time order; listing follows start time.
	commits := []engine.Trace{
		trace("a", "a2", t0.Add(2*time.Second)),
		trace("b", "b1", t0.Add(1*time.Second)),
		trace("a", "a0", t0),
		trace("b", "b3", t0.Add(3*time.Second)),
		trace("a", "old", time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)),
	}
	for _, tr := range commits {
		if err := s.Commit(engine.Commit{Rule: tr.Rule, Trace: tr}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		rule  string
		limit int
		want  []string
	}{
		{"", 0, []string{"b3", "a2", "b1", "a0", "old"}},
		{"", 2, []string{"b3", "a2"}},
		{"a", 0, []string{"a2", "a0", "old"}},
		{"a", 1, []string{"a2"}},
		{"b", 5, []string{"b3", "b1"}},
		{"none", 5, []string{}},
	}
	for _, tt := range tests {
		runs, err := s.Runs(tt.rule, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(runs); !slices.Equal(got, tt.want) {
			t.Errorf("Runs(%q, %d) = %v, want %v", tt.rule, tt.limit, got, tt.want)
		}
	}
}

func TestRetentionPrunesOldestTraces(t *testing.T) {
	const keep = 5
	s := openStore(t, "", store.Options{TraceRetention: keep})
	var want []string // newest first
	for i := range 40 {
		tr := trace("busy", fmt.Sprintf("busy-%02d", i), t0.Add(time.Duration(i)*time.Second))
		var err error
		if i%2 == 0 {
			err = s.Commit(engine.Commit{Rule: "busy", Trace: tr})
		} else {
			s.RecordTrace(tr)
			err = s.Flush()
		}
		if err != nil {
			t.Fatal(err)
		}
		want = append([]string{tr.ID}, want...)
	}
	quiet := trace("quiet", "quiet-0", t0)
	if err := s.Commit(engine.Commit{Rule: "quiet", Trace: quiet}); err != nil {
		t.Fatal(err)
	}

	busy, err := s.Runs("busy", 0)
	if err != nil {
		t.Fatal(err)
	}
	// Pruning cuts back to keep once a slack of keep/10+1 is exceeded.
	if n := len(busy); n < keep || n > keep+keep/10+1 {
		t.Fatalf("busy keeps %d traces, want %d to %d", n, keep, keep+keep/10+1)
	}
	if got := ids(busy); !slices.Equal(got, want[:len(got)]) {
		t.Errorf("busy keeps %v, want the newest %v", got, want[:len(got)])
	}
	// The all-rules index loses the pruned traces too.
	all, err := s.Runs("", 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, wantAll := ids(all), append(ids(busy), "quiet-0"); !slices.Equal(got, wantAll) {
		t.Errorf("Runs(\"\") = %v, want %v", got, wantAll)
	}
}

func TestRecordEventJournal(t *testing.T) {
	s := openStore(t, "", store.Options{JournalSize: 10, RecordDelay: time.Hour})
	for i := range 25 {
		s.RecordEvent(engine.EventRecord{
			ID: fmt.Sprintf("ev-%02d", i), Kind: engine.KindReading, Time: t0.Add(time.Duration(i) * time.Second),
			Device: &engine.Device{Name: "Kitchen"}, Data: map[string]any{"value": float64(i)},
		})
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if d := s.Dropped(); d != 0 {
		t.Fatalf("Dropped = %d, want 0", d)
	}
	events, err := s.RecentEvents(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 10 {
		t.Fatalf("journal keeps %d events, want 10", len(events))
	}
	for i, ev := range events {
		n := 24 - i
		if ev.ID != fmt.Sprintf("ev-%02d", n) || ev.Device.Name != "Kitchen" || ev.Data["value"] != float64(n) || !ev.Time.Equal(t0.Add(time.Duration(n)*time.Second)) {
			t.Errorf("event %d = %+v, want ev-%02d", i, ev, n)
		}
	}
	if events, _ := s.RecentEvents(3); len(events) != 3 || events[0].ID != "ev-24" {
		t.Errorf("RecentEvents(3) = %v", events)
	}
}

func TestRecordedItemsRideWithCommits(t *testing.T) {
	// With a delay nothing else would end, a commit writes what was
	// recorded before it in its own transaction.
	s := openStore(t, "", store.Options{RecordDelay: time.Hour})
	s.RecordEvent(engine.EventRecord{ID: "ev", Kind: engine.KindCustom, Time: t0})
	s.RecordTrace(trace("quiet", "stateless", t0))
	if err := s.Commit(engine.Commit{Rule: "a", RuleState: json.RawMessage(`1`)}); err != nil {
		t.Fatal(err)
	}
	if events, _ := s.RecentEvents(0); len(events) != 1 {
		t.Errorf("journal = %v, want the recorded event", events)
	}
	if runs, _ := s.Runs("quiet", 0); len(runs) != 1 {
		t.Errorf("runs = %v, want the recorded trace", runs)
	}
}

func TestRecordedItemsWrittenAfterDelay(t *testing.T) {
	s := openStore(t, "", store.Options{RecordDelay: time.Millisecond})
	s.RecordEvent(engine.EventRecord{ID: "ev", Kind: engine.KindCustom, Time: t0})
	// Nothing else is written; the delay alone must bring it to disk.
	deadline := time.Now().Add(10 * time.Second)
	for {
		events, err := s.RecentEvents(0)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the recorded event is not written 10 s after its 1 ms delay: %v", events)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestRecordedItemsWaitForRoomInsteadOfDropping(t *testing.T) {
	s := openStore(t, "", store.Options{QueueSize: 1, JournalSize: 100_000, TraceRetention: 100_000})
	const sent = 5_000
	for i := range sent {
		s.RecordEvent(engine.EventRecord{ID: fmt.Sprint(i), Kind: engine.KindCustom, Time: t0.Add(time.Duration(i))})
		s.RecordTrace(trace("r", fmt.Sprint(i), t0.Add(time.Duration(i))))
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	events, err := s.RecentEvents(0)
	if err != nil {
		t.Fatal(err)
	}
	traces, err := s.Runs("r", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != sent || len(traces) != sent || s.Dropped() != 0 {
		t.Errorf("journaled %d, traced %d, dropped %d; want %d, %d, 0", len(events), len(traces), s.Dropped(), sent, sent)
	}
}

func TestKV(t *testing.T) {
	s := openStore(t, "", store.Options{})
	for _, kv := range [][2]string{{"fired/2026-03-01", "1"}, {"fired/2026-03-02", "2"}, {"firedx", "3"}, {"other", "4"}} {
		if err := s.Put("notify", kv[0], []byte(kv[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put("schedule", "fired/2026-03-01", []byte("elsewhere")); err != nil {
		t.Fatal(err)
	}
	if err := s.Put("notify", "other", []byte("5")); err != nil {
		t.Fatal(err)
	}

	v, err := s.Get("notify", "other")
	if err != nil || string(v) != "5" {
		t.Errorf("Get = %q, %v; want the overwritten 5", v, err)
	}
	v[0] = 'X' // the caller owns the copy
	if v, _ := s.Get("notify", "other"); string(v) != "5" {
		t.Errorf("changing a returned value changed the store: %q", v)
	}
	for _, missing := range [][2]string{{"notify", "nope"}, {"no-bucket", "k"}} {
		if v, err := s.Get(missing[0], missing[1]); v != nil || err != nil {
			t.Errorf("Get(%q, %q) = %q, %v; want nil, nil", missing[0], missing[1], v, err)
		}
	}

	list, err := s.List("notify", "fired/")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || string(list["fired/2026-03-01"]) != "1" || string(list["fired/2026-03-02"]) != "2" {
		t.Errorf("List(fired/) = %q", list)
	}
	if all, _ := s.List("notify", ""); len(all) != 4 {
		t.Errorf("List(\"\") has %d pairs, want 4", len(all))
	}
	if none, err := s.List("no-bucket", ""); err != nil || len(none) != 0 {
		t.Errorf("List of a missing bucket = %v, %v", none, err)
	}

	for _, del := range [][2]string{{"notify", "fired/2026-03-01"}, {"notify", "never"}, {"no-bucket", "k"}} {
		if err := s.Delete(del[0], del[1]); err != nil {
			t.Errorf("Delete(%q, %q) = %v", del[0], del[1], err)
		}
	}
	if v, _ := s.Get("notify", "fired/2026-03-01"); v != nil {
		t.Errorf("deleted key still reads %q", v)
	}
	if v, _ := s.Get("schedule", "fired/2026-03-01"); string(v) != "elsewhere" {
		t.Errorf("delete in one bucket touched another: %q", v)
	}

	for _, bad := range [][2]string{{"", "k"}, {"b", ""}} {
		if err := s.Put(bad[0], bad[1], []byte("v")); err == nil {
			t.Errorf("Put(%q, %q) succeeded, want an error", bad[0], bad[1])
		}
		if err := s.Delete(bad[0], bad[1]); err == nil {
			t.Errorf("Delete(%q, %q) succeeded, want an error", bad[0], bad[1])
		}
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alexarules.db")
	s, err := store.Open(path, store.Options{RecordDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Commit(engine.Commit{
		Rule: "a", Trace: trace("a", "run", t0), RuleState: json.RawMessage(`{"on":true}`),
		GlobalSet: map[string]json.RawMessage{"mode": json.RawMessage(`"away"`)},
		PutTimers: []engine.TimerRecord{{ID: "t", Rule: "a", Handler: "h", Due: t0.Add(time.Hour)}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put("tokens", "refresh", []byte("secret")); err != nil {
		t.Fatal(err)
	}
	// Recorded but not yet written: Close must write them.
	s.RecordEvent(engine.EventRecord{ID: "ev", Kind: engine.KindStartup, Time: t0})
	s.RecordTrace(trace("b", "stateless", t0.Add(time.Second)))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if err := s.Commit(engine.Commit{Rule: "a", RuleState: json.RawMessage(`2`)}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Commit after Close = %v, want ErrClosed", err)
	}
	if err := s.Put("b", "k", nil); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Put after Close = %v, want ErrClosed", err)
	}
	s.RecordEvent(engine.EventRecord{ID: "late"})
	s.RecordTrace(trace("b", "late", t0))
	if s.Dropped() != 2 {
		t.Errorf("Dropped = %d after recording on a closed store, want 2", s.Dropped())
	}
	if err := s.Flush(); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Flush after Close = %v, want ErrClosed", err)
	}

	s = openStore(t, path, store.Options{})
	if state, _ := s.RuleState("a"); string(state) != `{"on":true}` {
		t.Errorf("state after reopen = %s", state)
	}
	if global, _ := s.Global(); string(global["mode"]) != `"away"` {
		t.Errorf("global after reopen = %v", global)
	}
	if timers, _ := s.Timers(); len(timers) != 1 || timers[0].ID != "t" || timers[0].Handler != "h" || !timers[0].Due.Equal(t0.Add(time.Hour)) {
		t.Errorf("timers after reopen = %+v", timers)
	}
	if runs, _ := s.Runs("", 0); !slices.Equal(ids(runs), []string{"stateless", "run"}) {
		t.Errorf("runs after reopen = %v", ids(runs))
	}
	if events, _ := s.RecentEvents(0); len(events) != 1 || events[0].ID != "ev" {
		t.Errorf("events after reopen = %v", events)
	}
	if v, _ := s.Get("tokens", "refresh"); string(v) != "secret" {
		t.Errorf("kv after reopen = %q", v)
	}
}

func TestConcurrentCommitsAllLand(t *testing.T) {
	const writers, each = 64, 20
	s := openStore(t, "", store.Options{TraceRetention: each})
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Go(func() {
			rule := fmt.Sprintf("rule-%02d", w)
			for i := range each {
				id := fmt.Sprintf("%s-%02d", rule, i)
				errs <- s.Commit(engine.Commit{
					Rule:      rule,
					Trace:     trace(rule, id, t0.Add(time.Duration(i)*time.Second)),
					RuleState: json.RawMessage(fmt.Sprint(i)),
					GlobalSet: map[string]json.RawMessage{id: json.RawMessage(`true`)},
					PutTimers: []engine.TimerRecord{{ID: id, Rule: rule, Due: t0}},
				})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	global, _ := s.Global()
	timers, _ := s.Timers()
	all, _ := s.Runs("", 0)
	if len(global) != writers*each || len(timers) != writers*each || len(all) != writers*each {
		t.Errorf("got %d global keys, %d timers, %d runs; want %d each", len(global), len(timers), len(all), writers*each)
	}
	for w := range writers {
		rule := fmt.Sprintf("rule-%02d", w)
		if state, _ := s.RuleState(rule); string(state) != fmt.Sprint(each-1) {
			t.Errorf("state of %s = %s, want %d", rule, state, each-1)
		}
		if runs, _ := s.Runs(rule, 0); len(runs) != each {
			t.Errorf("%s has %d runs, want %d", rule, len(runs), each)
		}
	}
}

func TestOpenFileModeAndLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alexarules.db")
	openStore(t, path, store.Options{})
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if mode := info.Mode().Perm(); mode != 0o600 {
		t.Errorf("file mode = %o, want 600", mode)
	}
	// bbolt's flock conflicts between two opens even in one process.
	_, err = store.Open(path, store.Options{})
	if !errors.Is(err, store.ErrInUse) || !strings.Contains(err.Error(), path+" is in use by another alexarules process") {
		t.Errorf("second Open = %v, want ErrInUse naming the file", err)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alexarules.db")
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Stamp the file as a future alexarules would.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), binary.BigEndian.AppendUint64(nil, store.SchemaVersion+1))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	_, err = store.Open(path, store.Options{})
	if !errors.Is(err, store.ErrNewerSchema) || !strings.Contains(err.Error(), fmt.Sprintf("schema version %d", store.SchemaVersion+1)) {
		t.Errorf("Open of a newer schema = %v, want ErrNewerSchema", err)
	}
	// The refusal released the file: the current version still opens once
	// the stamp is back.
	db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("refused Open kept the file locked: %v", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), binary.BigEndian.AppendUint64(nil, store.SchemaVersion))
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	openStore(t, path, store.Options{})
}

func TestFailedWriteDoesNotFailOthers(t *testing.T) {
	s := openStore(t, "", store.Options{RecordDelay: time.Hour})
	// The event waits for company, so it shares the bad put's transaction.
	s.RecordEvent(engine.EventRecord{ID: "ev", Kind: engine.KindCustom, Time: t0})
	tooLong := strings.Repeat("k", bolt.MaxKeySize+1)
	if err := s.Put("b", tooLong, []byte("v")); err == nil {
		t.Fatal("Put of an oversized key succeeded")
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if events, _ := s.RecentEvents(0); len(events) != 1 {
		t.Errorf("journal = %v, want the event that shared the failed transaction", events)
	}

	// Good and bad writers at once: only the bad ones fail.
	var wg sync.WaitGroup
	errs := make([]error, 32)
	for i := range errs {
		wg.Go(func() {
			key := fmt.Sprint(i)
			if i%4 == 0 {
				key = tooLong
			}
			errs[i] = s.Put("b", key, []byte("v"))
		})
	}
	wg.Wait()
	for i, err := range errs {
		if bad := i%4 == 0; bad != (err != nil) {
			t.Errorf("writer %d (bad %t): %v", i, bad, err)
		}
	}
	if list, _ := s.List("b", ""); len(list) != 24 {
		t.Errorf("bucket holds %d keys, want the 24 good ones", len(list))
	}
}

func TestRetentionCountsSurviveReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alexarules.db")
	opts := store.Options{TraceRetention: 10, JournalSize: 10}
	n := 0
	for range 3 {
		s, err := store.Open(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		for range 8 {
			at := t0.Add(time.Duration(n) * time.Second)
			s.RecordEvent(engine.EventRecord{ID: fmt.Sprint(n), Kind: engine.KindCustom, Time: at})
			if err := s.Commit(engine.Commit{Rule: "a", Trace: trace("a", fmt.Sprint(n), at)}); err != nil {
				t.Fatal(err)
			}
			n++
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	s := openStore(t, path, opts)
	if events, _ := s.RecentEvents(0); len(events) != 10 || events[0].ID != "23" {
		t.Errorf("journal after reopens has %d events, want 10 up to 23", len(events))
	}
	if runs, _ := s.Runs("a", 0); len(runs) < 10 || len(runs) > 12 || runs[0].ID != "23" {
		t.Errorf("rule a keeps %v after reopens, want 10 to 12 up to 23", ids(runs))
	}
}
