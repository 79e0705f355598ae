package store_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
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
// the buckets' sequences.
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
