package store_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine/store"
)

// crashCopy copies the database and its log as the disk holds them now,
// as a kill -9 would leave them, and returns the copy's path.
func crashCopy(t *testing.T, path string, withLog bool) string {
	t.Helper()
	cp := filepath.Join(t.TempDir(), "copy.db")
	suffixes := []string{""}
	if withLog {
		suffixes = append(suffixes, ".wal")
	}
	for _, suffix := range suffixes {
		b, err := os.ReadFile(path + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(cp+suffix, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return cp
}

func mustPut(t *testing.T, s *store.Store, key, value string) {
	t.Helper()
	if err := s.Put("b", key, []byte(value)); err != nil {
		t.Fatal(err)
	}
}

func wantKV(t *testing.T, s *store.Store, want map[string]string) {
	t.Helper()
	got, err := s.List("b", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Errorf("bucket holds %d keys, want %d: %q", len(got), len(want), got)
	}
	for k, v := range want {
		if string(got[k]) != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

// The log starts again at offset 0 after each checkpoint, over the records
// of the cycle before: a kill leaves new records followed by older ones,
// and the reopened store redoes exactly the writes after the checkpoint.
func TestTheLogRedoesOnlyWhatFollowsTheCheckpoint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	value := strings.Repeat("v", 1000)
	// Four records of a 1 KB value pass 4 KiB: a checkpoint after every
	// fourth put.
	s := openStore(t, path, store.Options{CheckpointInterval: time.Hour, CheckpointBytes: 4 << 10})
	want := map[string]string{}
	for i := range 8 { // two cycles: checkpointed
		mustPut(t, s, fmt.Sprint("k", i), value)
		want[fmt.Sprint("k", i)] = value
	}
	mustPut(t, s, "k1", "new") // the third cycle, over the second's records
	mustPut(t, s, "k9", value)
	if err := s.Delete("b", "k6"); err != nil {
		t.Fatal(err)
	}
	want["k1"], want["k9"] = "new", value
	delete(want, "k6")

	withoutLog := openStore(t, crashCopy(t, path, false), store.Options{})
	wantKV(t, withoutLog, map[string]string{"k0": value, "k1": value, "k2": value, "k3": value,
		"k4": value, "k5": value, "k6": value, "k7": value}) // the checkpoints' writes only
	wantKV(t, openStore(t, crashCopy(t, path, true), store.Options{}), want)
}

// A record cut short or damaged (a power cut while it was written) ends
// the log: the records before it are redone, none after it.
func TestADamagedRecordEndsTheLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	s := openStore(t, path, store.Options{CheckpointInterval: time.Hour})
	mustPut(t, s, "a", "1")
	mustPut(t, s, "b", "2")
	mustPut(t, s, "c", "3")
	for name, damage := range map[string]func([]byte) []byte{
		"torn":    func(b []byte) []byte { return b[:len(b)-3] },
		"flipped": func(b []byte) []byte { b[len(b)-1] ^= 1; return b },
	} {
		t.Run(name, func(t *testing.T) {
			cp := crashCopy(t, path, true)
			log, err := os.ReadFile(cp + ".wal")
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(cp+".wal", damage(log), 0o600); err != nil {
				t.Fatal(err)
			}
			wantKV(t, openStore(t, cp, store.Options{}), map[string]string{"a": "1", "b": "2"})
		})
	}
}

// Reads see every answered write before any checkpoint: they run in the
// writer's open transaction.
func TestReadsSeeWritesNotYetCheckpointed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	s := openStore(t, path, store.Options{CheckpointInterval: time.Hour})
	mustPut(t, s, "a", "1")
	wantKV(t, s, map[string]string{"a": "1"})
	wantKV(t, openStore(t, crashCopy(t, path, false), store.Options{}), map[string]string{})
}

// An idle store checkpoints within CheckpointInterval: the database file
// alone then holds the writes.
func TestAnIdleStoreCheckpoints(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	s := openStore(t, path, store.Options{CheckpointInterval: 10 * time.Millisecond})
	mustPut(t, s, "a", "1")
	deadline := time.Now().Add(10 * time.Second)
	for {
		cp := crashCopy(t, path, false)
		got, err := openStore(t, cp, store.Options{}).Get("b", "a")
		if err != nil {
			t.Fatal(err)
		}
		if string(got) == "1" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A read-only open (alexarules state after a crash) first redoes the log
// an engine killed in the interval mode left; the always mode redoes it
// and removes it; a clean Close leaves it empty.
func TestTheLogIsFinishedByEveryOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	s := openStore(t, path, store.Options{CheckpointInterval: time.Hour})
	mustPut(t, s, "a", "1")

	ro, err := store.OpenReadOnly(crashCopy(t, path, true))
	if err != nil {
		t.Fatal(err)
	}
	wantKV(t, ro, map[string]string{"a": "1"})
	ro.Close()

	cp := crashCopy(t, path, true)
	wantKV(t, openStore(t, cp, store.Options{Sync: store.SyncAlways}), map[string]string{"a": "1"})
	if _, err := os.Stat(cp + ".wal"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the always mode left its log: %v", err)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path + ".wal")
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() != 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("after Close the log has %d bytes, mode %v; want empty, 0600", fi.Size(), fi.Mode().Perm())
	}
}

func TestAnUnknownSyncModeIsRefused(t *testing.T) {
	_, err := store.Open(filepath.Join(t.TempDir(), "a.db"), store.Options{Sync: "sometimes"})
	if err == nil || !strings.Contains(err.Error(), `"sometimes"`) {
		t.Fatalf("Open = %v, want an error naming the mode", err)
	}
}
