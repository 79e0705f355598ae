package store_test

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/store"
)

// TestOpenReadOnly: a closed data file is read without being written; one
// a running engine holds is ErrInUse; a missing one is an error, not a new
// file.
func TestOpenReadOnly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "alexarules.db")
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(engine.Commit{Trace: trace("r", "1", t0), Rule: "r", RuleState: json.RawMessage(`{"n":1}`),
		PutTimers: []engine.TimerRecord{{ID: "t1", Rule: "r", Handler: "h", Due: t0}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.OpenReadOnly(path); !errors.Is(err, store.ErrInUse) {
		t.Errorf("OpenReadOnly while open: %v, want ErrInUse", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := store.OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if st, err := ro.RuleState("r"); err != nil || string(st) != `{"n":1}` {
		t.Errorf("RuleState = %s, %v", st, err)
	}
	if tm, err := ro.Timers(); err != nil || len(tm) != 1 || tm[0].ID != "t1" {
		t.Errorf("Timers = %v, %v", tm, err)
	}
	if runs, err := ro.Runs("r", 10); err != nil || len(runs) != 1 {
		t.Errorf("Runs = %v, %v", runs, err)
	}
	if err := ro.Put("kv", "k", []byte("v")); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Put on a read-only store: %v, want ErrClosed", err)
	}
	if _, err := store.OpenReadOnly(filepath.Join(t.TempDir(), "missing.db")); err == nil {
		t.Error("OpenReadOnly of a missing file: no error")
	}
}
