package store_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
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

// The interval mode keeps the open transaction's accepted events in the
// writer's memory (the write-behind overlay); these tests hold the
// transaction open (no checkpoint) so that the events stay there.
var heldOpen = store.Options{CheckpointInterval: time.Hour}

// pendingIDs lists the inbox as "id:rule,rule" strings, oldest first.
func pendingIDs(t *testing.T, s *store.Store) []string {
	t.Helper()
	var out []string
	for _, p := range inbox(t, s) {
		out = append(out, p.Event.ID+":"+strings.Join(p.Done, ","))
	}
	return out
}

func commitRunOf(t *testing.T, s *store.Store, rule, event, run string) {
	t.Helper()
	tr := trace(rule, run, t0)
	tr.EventID = event
	if err := s.Commit(engine.Commit{Rule: rule, Trace: tr}); err != nil {
		t.Fatal(err)
	}
}

func complete(t *testing.T, s *store.Store, ids ...string) {
	t.Helper()
	for _, id := range ids {
		s.Complete(id)
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
}

// A read right after the writes sees the events and done marks the
// overlay holds, and a completion in the same transaction removes them.
func TestReadsSeeTheInboxWrittenBehind(t *testing.T) {
	s := openStore(t, "", heldOpen)
	for _, id := range []string{"z", "b", "m"} {
		accept(t, s, id, true)
	}
	commitRunOf(t, s, "r2", "b", "run-1")
	commitRunOf(t, s, "r1", "b", "run-2")
	if got, want := pendingIDs(t, s), []string{"z:", "b:r1,r2", "m:"}; !slices.Equal(got, want) {
		t.Fatalf("inbox %q, want %q", got, want)
	}
	// b is in the transaction now (the read wrote it there); z and the
	// new ones are in the overlay again.
	accept(t, s, "a", false)
	commitRunOf(t, s, "r1", "a", "run-3")
	complete(t, s, "z", "b")
	if got, want := pendingIDs(t, s), []string{"m:", "a:r1"}; !slices.Equal(got, want) {
		t.Fatalf("after completing z and b: inbox %q, want %q", got, want)
	}
	if accept(t, s, "m", true) || accept(t, s, "a", true) {
		t.Error("an event the inbox holds was accepted again")
	}
	if !accept(t, s, "z", true) {
		t.Error("a completed event's id is not free again")
	}
}

// dump is every key and value of the file at path, bucket by bucket, with
// the buckets' sequences, but for the log's position (meta/wal_lsn).
func dump(t *testing.T, path string) string {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var b strings.Builder
	err = db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, bk *bolt.Bucket) error {
			fmt.Fprintf(&b, "%s seq %d\n", name, bk.Sequence())
			return bk.ForEach(func(k, v []byte) error {
				if string(name) == "meta" && string(k) == "wal_lsn" {
					return nil // the always mode has none
				}
				fmt.Fprintf(&b, "  %q = %q\n", k, v)
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// The checkpoint writes the events the overlay still holds and the inbox
// sequence of every accept, so the file a clean close leaves is the one a
// kill leaves once its log is redone.
func TestACheckpointGivesTheDatabaseTheLogGives(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	s, err := store.Open(path, heldOpen)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"z", "gone", "b", "m", "gone too"} {
		accept(t, s, id, true)
	}
	commitRunOf(t, s, "r", "b", "run-1")
	commitRunOf(t, s, "r", "gone", "run-2")
	complete(t, s, "gone", "gone too")
	killed := crashCopy(t, path, true)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	redone, err := store.Open(killed, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := redone.Close(); err != nil {
		t.Fatal(err)
	}
	got, want := dump(t, path), dump(t, killed)
	if got != want {
		t.Fatalf("after a clean close:\n%s\nafter a kill and the redo:\n%s", got, want)
	}
	if !strings.Contains(got, "inbox seq 5\n") || !strings.Contains(got, `"b\x00r" = ""`) {
		t.Errorf("the file lacks the inbox's sequence or b's done mark:\n%s", got)
	}
	s = openStore(t, path, store.Options{})
	if got, want := pendingIDs(t, s), []string{"z:", "b:r", "m:"}; !slices.Equal(got, want) {
		t.Errorf("reopened inbox %q, want %q", got, want)
	}
}

// A failed write discards the open transaction and the overlay with it;
// the log, redone into the next transaction, restores the answered
// accepts, and later completions remove them from there.
func TestADiscardedTransactionTakesTheOverlayWithIt(t *testing.T) {
	s := openStore(t, "", heldOpen)
	accept(t, s, "e1", true)
	accept(t, s, "e2", true)
	commitRunOf(t, s, "r", "e1", "run-1")
	// bbolt refuses keys over 32 KiB: the commit fails.
	big := map[string]json.RawMessage{strings.Repeat("k", 40000): json.RawMessage(`1`)}
	if err := s.Commit(engine.Commit{Rule: "x", GlobalSet: big}); err == nil {
		t.Fatal("an oversized global key was committed")
	}
	complete(t, s, "e1")
	accept(t, s, "e3", true)
	commitRunOf(t, s, "r", "e2", "run-2")
	if got, want := pendingIDs(t, s), []string{"e2:r", "e3:"}; !slices.Equal(got, want) {
		t.Fatalf("inbox %q, want %q", got, want)
	}
}

// An event the inbox could never hold (an id over bbolt's key limit) is
// refused when it is accepted, not when its overlay entry is written.
func TestAnOversizedEventIDIsRefusedAtAccept(t *testing.T) {
	s := openStore(t, "", heldOpen)
	accept(t, s, "before", true)
	done := make(chan error, 1)
	s.Accept(engine.Event{ID: strings.Repeat("i", 40000), Kind: engine.KindCustom, Name: "n", Time: t0}, false,
		func(_ bool, err error) { done <- err })
	if err := <-done; err == nil {
		t.Fatal("an event id over 32 KiB was accepted")
	}
	accept(t, s, "after", true)
	if got, want := pendingIDs(t, s), []string{"before:", "after:"}; !slices.Equal(got, want) {
		t.Fatalf("inbox %q, want %q", got, want)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("the checkpoint failed: %v", err)
	}
}

// The overlay changes where the writer keeps things, never what the
// database holds: the same random writes (accepts, duplicate ids, traces
// out of order and again under the same key, done marks, completions,
// pruning past retention, a journal with keys out of order and again)
// give the interval mode, checkpointing every few writes, the reads and
// the file the always mode gives.
func TestTheOverlayStoresWhatTheAlwaysModeStores(t *testing.T) {
	dir := t.TempDir()
	opts := store.Options{TraceRetention: 5, JournalSize: 8, CheckpointBytes: 8 << 10}
	always := openStore(t, filepath.Join(dir, "always.db"), store.Options{TraceRetention: 5, JournalSize: 8, Sync: store.SyncAlways})
	interval := openStore(t, filepath.Join(dir, "interval.db"), opts)
	r := rand.New(rand.NewPCG(1, 2))
	for step := range 1500 {
		ev := fmt.Sprint("e", r.IntN(60))
		var c *engine.Commit
		switch r.IntN(4) {
		case 0:
			journal := r.IntN(2) == 0
			if a, i := accept(t, always, ev, journal), accept(t, interval, ev, journal); a != i {
				t.Fatalf("step %d: accept of %s fresh %v in the always mode, %v in the interval mode", step, ev, a, i)
			}
		case 1, 2:
			run := r.IntN(12)
			rule := fmt.Sprint("r", r.IntN(3))
			// Run ids are unique across rules (engine.IDs), as the
			// all-rules index (runs/) assumes.
			tr := trace(rule, fmt.Sprint(rule, "-run-", run), t0.Add(time.Duration(run*7%12)*time.Second))
			tr.EventID, tr.DurationMS = ev, float64(step) // a second put of a key changes its value
			c = &engine.Commit{Rule: rule, Trace: tr}
			if r.IntN(3) == 0 {
				c.Complete = ev
			}
		case 3:
			complete(t, always, ev)
			complete(t, interval, ev)
		}
		if c != nil {
			if err := errors.Join(always.Commit(*c), interval.Commit(*c)); err != nil {
				t.Fatal(err)
			}
		}
		if step%100 == 99 {
			sameReads(t, always, interval)
		}
	}
	sameReads(t, always, interval)
	if err := errors.Join(always.Close(), interval.Close()); err != nil {
		t.Fatal(err)
	}
	if a, i := dump(t, filepath.Join(dir, "always.db")), dump(t, filepath.Join(dir, "interval.db")); a != i {
		t.Errorf("the always mode's file:\n%s\nthe interval mode's:\n%s", a, i)
	}
}

// sameReads fails t unless both stores list the same traces, journal and
// inbox.
func sameReads(t *testing.T, a, b *store.Store) {
	t.Helper()
	for _, rule := range []string{"r0", "r1", "r2", ""} {
		ra, errA := a.Runs(rule, 0)
		rb, errB := b.Runs(rule, 0)
		if err := errors.Join(errA, errB); err != nil {
			t.Fatal(err)
		}
		if a, b := runsAt(ra), runsAt(rb); !slices.Equal(a, b) {
			t.Fatalf("runs of %q: %v in the always mode, %v in the interval mode", rule, a, b)
		}
	}
	ja, errA := a.RecentEvents(0)
	jb, errB := b.RecentEvents(0)
	if err := errors.Join(errA, errB); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ja) != fmt.Sprint(jb) {
		t.Fatalf("journal: %v in the always mode, %v in the interval mode", ja, jb)
	}
	if ia, ib := pendingIDs(t, a), pendingIDs(t, b); !slices.Equal(ia, ib) {
		t.Fatalf("inbox: %q in the always mode, %q in the interval mode", ia, ib)
	}
}

// runsAt lists traces as "id@duration": a trace put again under its key
// has another duration.
func runsAt(traces []engine.Trace) []string {
	out := make([]string, len(traces))
	for i, tr := range traces {
		out[i] = fmt.Sprintf("%s@%g", tr.ID, tr.DurationMS)
	}
	return out
}

// An event journaled again under its key is counted once: a count one too
// high prunes the journal early.
func TestAnEventJournaledAgainIsCountedOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	s, err := store.Open(path, store.Options{JournalSize: 10}) // prunes past 11
	if err != nil {
		t.Fatal(err)
	}
	for i := range 11 {
		s.RecordEvent(engine.EventRecord{ID: fmt.Sprintf("e%02d", i), Kind: engine.KindCustom, Time: t0})
	}
	s.RecordEvent(engine.EventRecord{ID: "e05", Kind: engine.KindCustom, Time: t0})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if d := dump(t, path); strings.Count(d[strings.Index(d, "events seq"):strings.Index(d, "global seq")], "\n  ") != 11 {
		t.Errorf("the journal lost events it should keep:\n%s", d)
	}
}

// inboxCrashEnv names the database inboxCrashChild writes to until killed.
const inboxCrashEnv = "ALEXARULES_STORE_INBOX_CRASH_DB"

// A kill -9 among checkpoints loses nothing the overlay held: every
// acknowledged accept not yet completed is in the inbox after the redo,
// in acceptance order, with its acknowledged done marks, and no
// acknowledged completion is undone.
func TestTheInboxWrittenBehindSurvivesKill(t *testing.T) {
	if path := os.Getenv(inboxCrashEnv); path != "" {
		inboxCrashChild(path)
		return
	}
	path := filepath.Join(t.TempDir(), "a.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestTheInboxWrittenBehindSurvivesKill$")
	cmd.Env = append(os.Environ(), inboxCrashEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[string]map[string]bool{} // what: ids
	for _, what := range []string{"accepted", "marked", "completed"} {
		acked[what] = map[string]bool{}
	}
	lines, n := bufio.NewScanner(out), 0
	for lines.Scan() {
		what, id, ok := strings.Cut(lines.Text(), " ")
		if !ok || acked[what] == nil {
			continue // the test framework's own lines
		}
		acked[what][id] = true
		if n++; n == 6000 {
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
		}
	}
	_ = cmd.Wait()
	if n < 6000 {
		t.Fatalf("the child stopped after %d acknowledgements", n)
	}
	s := openStore(t, path, store.Options{})
	pending := map[string]engine.Pending{}
	last := map[int]int{} // worker: its last event in inbox order
	for _, p := range inbox(t, s) {
		pending[p.Event.ID] = p
		w, seq := workerSeq(p.Event.ID)
		if prev, ok := last[w]; ok && seq <= prev {
			t.Errorf("inbox order: %s after w%d-%d", p.Event.ID, w, prev)
		}
		last[w] = seq
	}
	for id := range acked["completed"] {
		if _, ok := pending[id]; ok {
			t.Errorf("completed event %s is back in the inbox", id)
		}
	}
	newest := map[int]int{} // worker: its last acknowledged accept
	for id := range acked["accepted"] {
		w, seq := workerSeq(id)
		newest[w] = max(newest[w], seq)
	}
	for id := range acked["accepted"] {
		w, seq := workerSeq(id)
		p, ok := pending[id]
		switch {
		case acked["completed"][id]:
		case !ok && seq%2 == 0 && seq == newest[w]:
			// Its completion may have been written, the kill landing
			// before the child printed it.
		case !ok:
			t.Errorf("accepted event %s lost", id)
		case acked["marked"][id] && !slices.Contains(p.Done, "a"):
			t.Errorf("event %s lost its done mark: %v", id, p.Done)
		}
	}
	t.Logf("%d accepted, %d completed before the kill; %d in the inbox after it", len(acked["accepted"]), len(acked["completed"]), len(pending))
}

// workerSeq parses inboxCrashChild's event id w<worker>-<seq>.
func workerSeq(id string) (w, seq int) {
	fmt.Sscanf(id, "w%d-%d", &w, &seq)
	return w, seq
}

// inboxCrashChild accepts events from several goroutines, commits a run of
// each that marks it done, and completes every other one with a second
// run, printing each acknowledged write, until its parent kills it. It
// checkpoints often, so the kill lands among checkpoints.
func inboxCrashChild(path string) {
	s, err := store.Open(path, store.Options{TraceRetention: 50, CheckpointInterval: 5 * time.Millisecond,
		CheckpointBytes: 64 << 10})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	var mu sync.Mutex
	ack := func(what, id string) {
		mu.Lock() // one short write to a pipe is atomic: a kill never leaves half a line
		fmt.Printf("%s %s\n", what, id)
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			accepted := make(chan error, 1)
			for n := range 100_000 {
				id := fmt.Sprintf("w%d-%d", w, n)
				s.Accept(engine.Event{ID: id, Kind: engine.KindCustom, Name: "n", Time: time.Now()}, true,
					func(_ bool, err error) { accepted <- err })
				if err := <-accepted; err != nil {
					fmt.Fprintln(os.Stderr, err)
					return
				}
				ack("accepted", id)
				run := trace("a", "a-"+id, time.Now())
				run.EventID = id
				if err := s.Commit(engine.Commit{Rule: "a", Trace: run}); err != nil {
					fmt.Fprintln(os.Stderr, err)
					return
				}
				ack("marked", id)
				if n%2 == 0 {
					run = trace("b", "b-"+id, time.Now())
					run.EventID = id
					if err := s.Commit(engine.Commit{Rule: "b", Trace: run, Complete: id}); err != nil {
						fmt.Fprintln(os.Stderr, err)
						return
					}
					ack("completed", id)
				}
			}
		})
	}
	wg.Wait()
}
