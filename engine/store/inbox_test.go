package store_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/store"
	bolt "go.etcd.io/bbolt"
)

func accept(t *testing.T, s *store.Store, id string, journal bool) bool {
	t.Helper()
	type result struct {
		fresh bool
		err   error
	}
	done := make(chan result, 1)
	s.Accept(engine.Event{ID: id, Kind: engine.KindCustom, Name: "n", Time: t0,
		Data: map[string]any{"seq": 1.0}, Target: "r", TriggerIndex: 2, Cause: engine.Cause{Rule: "c", Depth: 1}}, journal,
		func(fresh bool, err error) { done <- result{fresh, err} })
	r := <-done
	if r.err != nil {
		t.Error(r.err)
	}
	return r.fresh
}

func inbox(t *testing.T, s *store.Store) []engine.Pending {
	t.Helper()
	p, err := s.Inbox()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAcceptIsDurableAndKeepsOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Ids that sort the other way round than they were accepted.
	for _, id := range []string{"z", "b", "m"} {
		if !accept(t, s, id, id != "b") {
			t.Fatalf("first accept of %s is not fresh", id)
		}
	}
	if accept(t, s, "b", true) {
		t.Fatal("a second accept of b is fresh")
	}
	// Only Accept's own write: no Flush, no Close (as after a kill -9, the
	// file holds what the acknowledged transactions wrote).
	s2 := reopenWithoutClose(t, s, path)
	got := inbox(t, s2)
	var order []string
	for _, p := range got {
		order = append(order, p.Event.ID)
	}
	if !slices.Equal(order, []string{"z", "b", "m"}) {
		t.Fatalf("inbox order %v", order)
	}
	ev := got[0].Event
	if ev.Target != "r" || ev.TriggerIndex != 2 || ev.Cause.Rule != "c" || ev.Cause.Depth != 1 || ev.Data["seq"] != 1.0 {
		t.Errorf("event lost fields: %+v", ev)
	}
	journal, err := s2.RecentEvents(0)
	if err != nil {
		t.Fatal(err)
	}
	if len(journal) != 2 {
		t.Errorf("journal has %d events, want 2 (b was accepted without)", len(journal))
	}
}

// reopenWithoutClose copies the file as it is on disk and opens the copy,
// leaving s to the test's cleanup.
func reopenWithoutClose(t *testing.T, s *store.Store, path string) *store.Store {
	t.Helper()
	cp := filepath.Join(t.TempDir(), "copy.db") // a new directory per call
	// The interval mode's log first: a checkpoint between the two reads
	// then leaves a database newer than the log, as a kill would not,
	// but one that holds every record the log copy has.
	for _, suffix := range []string{".wal", ""} {
		b, err := os.ReadFile(path + suffix)
		if errors.Is(err, fs.ErrNotExist) && suffix != "" {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cp+suffix, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { s.Close() })
	return openStore(t, cp, store.Options{})
}

func TestDoneMarksAndComplete(t *testing.T) {
	s := openStore(t, "", store.Options{})
	accept(t, s, "e1", true)
	accept(t, s, "e2", true)
	tr := trace("a", "run-1", t0)
	tr.EventID = "e1"
	if err := s.Commit(engine.Commit{Rule: "a", Trace: tr}); err != nil {
		t.Fatal(err)
	}
	tr = trace("b", "run-2", t0)
	tr.EventID = "e1"
	s.RecordTrace(tr)
	tr = trace("a", "run-3", t0)
	tr.EventID = "not-accepted"
	s.RecordTrace(tr)
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	got := inbox(t, s)
	if len(got) != 2 || !slices.Equal(got[0].Done, []string{"a", "b"}) || len(got[1].Done) != 0 {
		t.Fatalf("inbox %+v", got)
	}
	s.Complete("e1")
	s.Complete("unknown")
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	got = inbox(t, s)
	if len(got) != 1 || got[0].Event.ID != "e2" {
		t.Fatalf("after Complete: %+v", got)
	}
	// The id is free again and its marks are gone.
	if !accept(t, s, "e1", false) {
		t.Fatal("accept after Complete is not fresh")
	}
	if got = inbox(t, s); len(got) != 2 || len(got[1].Done) != 0 {
		t.Fatalf("marks survived Complete: %+v", got)
	}
}

// A commit that completes its event (the event's last run) takes it out
// of the inbox in its own transaction: a crash just before it leaves the
// event with the done marks of the runs that finished, one just after
// leaves nothing, and no mark outlives the event.
func TestCommitCompletesItsEventAcrossACrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	s := openStore(t, path, store.Options{})
	accept(t, s, "e1", true)
	accept(t, s, "e2", true)
	first := trace("a", "run-1", t0)
	first.EventID = "e1"
	if err := s.Commit(engine.Commit{Rule: "a", Trace: first}); err != nil {
		t.Fatal(err)
	}
	got := inbox(t, reopenWithoutClose(t, s, path))
	if len(got) != 2 || got[0].Event.ID != "e1" || !slices.Equal(got[0].Done, []string{"a"}) {
		t.Fatalf("crash between the runs: inbox %+v, want e1 done by a, and e2", got)
	}
	last := trace("b", "run-2", t0.Add(time.Millisecond))
	last.EventID = "e1"
	if err := s.Commit(engine.Commit{Rule: "b", Trace: last, Complete: "e1"}); err != nil {
		t.Fatal(err)
	}
	s2 := reopenWithoutClose(t, s, path)
	if got := inbox(t, s2); len(got) != 1 || got[0].Event.ID != "e2" {
		t.Fatalf("crash after the last run's commit: inbox %+v, want only e2", got)
	}
	runs, err := s2.Runs("", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids(runs), []string{"run-2", "run-1"}) {
		t.Fatalf("runs %v", ids(runs))
	}
	// The id is free again, without the first run's mark.
	if !accept(t, s, "e1", false) {
		t.Fatal("accept after the completing commit is not fresh")
	}
	if got := inbox(t, s); len(got) != 2 || got[1].Event.ID != "e1" || len(got[1].Done) != 0 {
		t.Fatalf("marks outlived the event: %+v", got)
	}
}

// A recorded trace and its event's Complete in one transaction leave
// neither the event nor a mark; a trace of another event keeps its mark.
func TestRecordedTraceAndCompleteTogether(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	s := openStore(t, path, store.Options{RecordDelay: time.Hour})
	accept(t, s, "e1", true)
	accept(t, s, "e2", true)
	for i, ev := range []string{"e1", "e2"} {
		tr := trace("a", fmt.Sprintf("run-%d", i), t0)
		tr.EventID = ev
		s.RecordTrace(tr)
	}
	s.Complete("e1")
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	s2 := reopenWithoutClose(t, s, path)
	if got := inbox(t, s2); len(got) != 1 || got[0].Event.ID != "e2" || !slices.Equal(got[0].Done, []string{"a"}) {
		t.Fatalf("inbox %+v, want e2 done by a", got)
	}
	if runs, err := s2.Runs("a", 0); err != nil || len(runs) != 2 {
		t.Fatalf("runs %v, %v", runs, err)
	}
	if !accept(t, s2, "e1", false) {
		t.Fatal("accept after Complete is not fresh")
	}
	if got := inbox(t, s2); len(got) != 2 || len(got[1].Done) != 0 {
		t.Fatalf("a mark outlived e1: %+v", got)
	}
}

func TestConcurrentAcceptsAllLand(t *testing.T) {
	s := openStore(t, "", store.Options{})
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() { accept(t, s, fmt.Sprint("e", i), true) })
	}
	wg.Wait()
	if n := len(inbox(t, s)); n != 64 {
		t.Fatalf("inbox holds %d, want 64", n)
	}
	// Without waiting in between: answers come in order, all durable.
	var order []int
	var mu sync.Mutex
	for i := range 100 {
		s.Accept(engine.Event{ID: fmt.Sprint("f", i), Kind: engine.KindCustom, Time: t0}, false, func(fresh bool, err error) {
			if err != nil || !fresh {
				t.Errorf("accept f%d: %v, %v", i, fresh, err)
			}
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
		})
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(order) != 100 || !slices.IsSorted(order) {
		t.Fatalf("answers out of order or missing: %v", order)
	}
}

func TestSchema1FileGainsTheInbox(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucket([]byte("meta"))
		if err != nil {
			return err
		}
		st, err := tx.CreateBucket([]byte("state"))
		if err != nil {
			return err
		}
		if err := st.Put([]byte("r"), []byte(`{"n":1}`)); err != nil {
			return err
		}
		return meta.Put([]byte("schema_version"), binary.BigEndian.AppendUint64(nil, 1))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s := openStore(t, path, store.Options{})
	if st, err := s.RuleState("r"); err != nil || string(st) != `{"n":1}` {
		t.Fatalf("state after migration: %s, %v", st, err)
	}
	if !accept(t, s, "e", true) || len(inbox(t, s)) != 1 {
		t.Fatal("the migrated file has no working inbox")
	}
}

func TestCommitAcceptsEmittedEventsWithTheState(t *testing.T) {
	s := openStore(t, "", store.Options{})
	c := engine.Commit{Rule: "r", Trace: trace("r", "run-1", t0), RuleState: []byte(`{"n":1}`),
		Accept: []engine.Event{{ID: "em-1", Kind: engine.KindCustom, Name: "b", Time: t0, Cause: engine.Cause{Rule: "r", Depth: 1}}}}
	if err := s.Commit(c); err != nil {
		t.Fatal(err)
	}
	got := inbox(t, s)
	if len(got) != 1 || got[0].Event.ID != "em-1" || got[0].Event.Cause.Rule != "r" {
		t.Fatalf("inbox %+v", got)
	}
	if journal, err := s.RecentEvents(0); err != nil || len(journal) != 1 {
		t.Fatalf("journal %+v, %v", journal, err)
	}
	bad := engine.Commit{Rule: "r", Trace: trace("r", "run-2", t0), Accept: []engine.Event{{Kind: engine.KindCustom}}}
	if err := s.Commit(bad); err == nil {
		t.Fatal("an event without an id was accepted")
	}
}

// A source's records of an event (a tracker's "this ring fired") land in
// the transaction that accepts it, so a crash leaves both or neither; a
// second accept of the same id writes them again and nothing else.
func TestAcceptWritesTheEventsRecordsWithIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.db")
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ev := engine.Event{ID: "ring-1", Kind: engine.KindAlarm, Time: t0,
		Writes: []engine.Write{{Bucket: "notify", Key: "fired/a/1", Value: []byte{1}}}}
	done := make(chan bool, 1)
	s.Accept(ev, true, func(fresh bool, err error) {
		if err != nil {
			t.Error(err)
		}
		done <- fresh
	})
	if !<-done {
		t.Fatal("the first accept is not fresh")
	}
	s2 := reopenWithoutClose(t, s, path)
	if v, err := s2.Get("notify", "fired/a/1"); err != nil || string(v) != "\x01" {
		t.Fatalf("the record did not land with the event: %q %v", v, err)
	}
	if p := inbox(t, s2); len(p) != 1 || p[0].Event.ID != "ring-1" || p[0].Event.Writes != nil {
		t.Fatalf("inbox: %+v", p)
	}
	ev.Writes[0].Key = "fired/a/2"
	s2.Accept(ev, true, func(fresh bool, err error) {
		if err != nil || fresh {
			t.Errorf("second accept: fresh %v, %v", fresh, err)
		}
		done <- fresh
	})
	<-done
	if v, _ := s2.Get("notify", "fired/a/2"); v == nil {
		t.Fatal("a second accept of the same id did not write its records")
	}
	if p := inbox(t, s2); len(p) != 1 {
		t.Fatalf("a second accept added to the inbox: %+v", p)
	}
}

// While events are being accepted, a run's commit waits for the next
// accept and shares its transaction; commits that accept events, and
// commits while nothing is accepted, are written at once. (CommitDelay
// is an hour: a commit that waited when it should not would hang.)
func TestCommitsRideWithAccepts(t *testing.T) {
	// The interval mode's commits never wait: a log record costs no fsync.
	s := openStore(t, "", store.Options{CommitDelay: time.Hour, Sync: store.SyncAlways})
	lone := trace("a", "run-0", t0)
	if err := s.Commit(engine.Commit{Rule: "a", Trace: lone}); err != nil {
		t.Fatal(err) // no accept yet: written at once
	}
	accept(t, s, "e0", true)
	emits := engine.Event{ID: "emitted", Kind: engine.KindCustom, Time: t0}
	if err := s.Commit(engine.Commit{Rule: "a", Trace: trace("a", "run-1", t0), Accept: []engine.Event{emits}}); err != nil {
		t.Fatal(err) // it accepts an event itself: written at once
	}
	accept(t, s, "e1", true)
	before, _ := s.WriteStats()
	committed := make(chan error, 1)
	go func() {
		tr := trace("a", "run-2", t0)
		tr.EventID = "e1"
		committed <- s.Commit(engine.Commit{Rule: "a", Trace: tr, Complete: "e1"})
	}()
	// Accept until the commit returns: the accept after the commit
	// reached the writer takes it along.
	accepts := 0
	deadline := time.Now().Add(10 * time.Second)
	for done := false; !done; {
		if time.Now().After(deadline) {
			t.Fatal("the commit never rode with an accept")
		}
		accept(t, s, fmt.Sprintf("n%d", accepts), false)
		accepts++
		select {
		case err := <-committed:
			if err != nil {
				t.Fatal(err)
			}
			done = true
		default:
		}
	}
	if after, _ := s.WriteStats(); after-before != int64(accepts) {
		t.Errorf("%d accepts and a commit took %d transactions, want %d (the commit in an accept's)", accepts, after-before, accepts)
	}
	if got := inbox(t, s); len(got) != 2+accepts || got[0].Event.ID != "e0" || got[1].Event.ID != "emitted" {
		t.Fatalf("inbox %+v", got)
	}
}

// A negative CommitDelay writes every commit at once.
func TestNegativeCommitDelayNeverWaits(t *testing.T) {
	s := openStore(t, "", store.Options{CommitDelay: -1, Sync: store.SyncAlways})
	accept(t, s, "e1", true)
	before, _ := s.WriteStats()
	if err := s.Commit(engine.Commit{Rule: "a", Trace: trace("a", "run-1", t0)}); err != nil {
		t.Fatal(err)
	}
	if after, _ := s.WriteStats(); after-before != 1 {
		t.Errorf("the commit took %d transactions, want its own", after-before)
	}
}

// A queued put takes no transaction of its own: it rides with the next
// accept, and is durable when that accept is.
func TestAQueuedPutRidesWithTheNextAccept(t *testing.T) {
	s := openStore(t, "", store.Options{RecordDelay: time.Hour})
	before, _ := s.WriteStats()
	landed := make(chan error, 1)
	s.QueuePut("levels", "r#0#d", []byte(`{"armed":false}`), func(err error) { landed <- err })
	accept(t, s, "e1", false)
	select {
	case err := <-landed:
		if err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatal("the accept is durable, the put queued before it is not")
	}
	if after, _ := s.WriteStats(); after-before != 1 {
		t.Errorf("a queued put and an accept took %d transactions, want 1", after-before)
	}
	if v, err := s.Get("levels", "r#0#d"); err != nil || string(v) != `{"armed":false}` {
		t.Errorf("stored %q, %v", v, err)
	}
}
