package store_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/store"
)

// crashCopy copies the database and its log as the disk holds them now,
// as a kill -9 would leave them, and returns the copy's path.
func crashCopy(t *testing.T, path string, withLog bool) string {
	t.Helper()
	cp := filepath.Join(t.TempDir(), "copy.db")
	suffixes := []string{""}
	if withLog { // the log first, as reopenWithoutClose does
		suffixes = []string{".wal", ""}
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
	waitCheckpointed(t, path, "a", "1")
}

// waitCheckpointed waits until the database file at path alone (without
// its log) holds key = value in bucket b, for 10 s at most.
func waitCheckpointed(t *testing.T, path, key, value string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := openStore(t, crashCopy(t, path, false), store.Options{}).Get("b", key)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) == value {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %s not checkpointed within 10 s", key, value)
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

// A failed write or checkpoint discards the writer's open transaction; a
// read before the next write must still see the writes answered before
// (they are in the log only), in both modes.
func TestReadsAfterAFailedWriteSeeTheAnsweredOnes(t *testing.T) {
	for _, mode := range []string{store.SyncInterval, store.SyncAlways} {
		t.Run(mode, func(t *testing.T) {
			s := openStore(t, "", store.Options{CheckpointInterval: time.Hour, Sync: mode})
			if err := s.Commit(engine.Commit{Rule: "a", RuleState: json.RawMessage(`{"n":1}`)}); err != nil {
				t.Fatal(err)
			}
			mustPut(t, s, "k", "v")
			// bbolt refuses keys over 32 KiB: the commit fails.
			err := s.Commit(engine.Commit{Rule: "b", GlobalSet: map[string]json.RawMessage{strings.Repeat("k", 40000): json.RawMessage(`1`)}})
			if err == nil {
				t.Fatal("an oversized global key was committed")
			}
			if st, err := s.RuleState("a"); err != nil || string(st) != `{"n":1}` {
				t.Errorf("RuleState(a) = %s, %v; want the answered {\"n\":1}", st, err)
			}
			wantKV(t, s, map[string]string{"k": "v"})
		})
	}
}

// The same after a failed checkpoint: the data file cannot grow (a full
// disk; here RLIMIT_FSIZE in a child process), the log can.
func TestReadsAfterAFailedCheckpointSeeTheAnsweredOnes(t *testing.T) {
	if p := os.Getenv("ALEXARULES_STORE_FSIZE_DB"); p != "" {
		failedCheckpointChild(t, p)
		return
	}
	_, out := failedCheckpointRun(t)
	if !bytes.Contains(out, []byte(`read k = "v"`)) || !bytes.Contains(out, []byte("checkpoint failed")) {
		t.Errorf("after a failed checkpoint:\n%s", out)
	}
}

// failedCheckpointRun fills a data file, then runs the calling test again
// in a child whose files may not grow much past it (failedCheckpointChild
// there, with env added), and returns the file and the child's output.
func failedCheckpointRun(t *testing.T, env ...string) (string, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "d.db")
	s := openStore(t, path, store.Options{Sync: store.SyncAlways})
	for i := range 40 {
		mustPut(t, s, fmt.Sprint("fill", i), strings.Repeat("f", 20<<10))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-c", fmt.Sprintf("ulimit -f %d; exec %q -test.run '^%s$'", fi.Size()/1024+8, exe, t.Name()))
	cmd.Env = append(append(os.Environ(), "ALEXARULES_STORE_FSIZE_DB="+path), env...)
	out, _ := cmd.CombinedOutput()
	return path, out
}

// failedCheckpointChild writes past what the data file may grow to, then
// reads an earlier write, and prints what it read; with
// ALEXARULES_STORE_FSIZE_CLOSE set it closes at once instead and prints
// what Close answered.
func failedCheckpointChild(t *testing.T, path string) {
	s, err := store.Open(path, store.Options{CheckpointInterval: time.Hour, CheckpointBytes: 100 << 10,
		Logger: slog.New(slog.NewTextHandler(os.Stdout, nil))})
	if err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "k", "v")
	mustPut(t, s, "big", strings.Repeat("x", 1500<<10)) // the log takes it; the checkpoint fails
	if os.Getenv("ALEXARULES_STORE_FSIZE_CLOSE") != "" {
		for i := range 20 { // a failed checkpoint is not tried again at each write
			mustPut(t, s, fmt.Sprint("more", i), "m")
		}
		fmt.Printf("close: %v\n", s.Close())
		return
	}
	v, err := s.Get("b", "k")
	fmt.Printf("read k = %q, %v\n", v, err)
	s.Close()
}

// A Close after a failed checkpoint keeps the log, which alone holds the
// writes answered since the last good one, and says so; the next open
// redoes them (found by review: the last checkpoint committed nothing and
// the log was emptied). Writes meanwhile do not retry the checkpoint each.
func TestCloseAfterAFailedCheckpointKeepsTheLog(t *testing.T) {
	if p := os.Getenv("ALEXARULES_STORE_FSIZE_DB"); p != "" {
		failedCheckpointChild(t, p)
		return
	}
	path, out := failedCheckpointRun(t, "ALEXARULES_STORE_FSIZE_CLOSE=1")
	if !bytes.Contains(out, []byte("checkpoint failed")) || bytes.Contains(out, []byte("close: <nil>")) {
		t.Fatalf("the child's checkpoint did not fail, or Close did not report it:\n%s", out)
	}
	// Twenty writes after the failure try no checkpoint before
	// CheckpointInterval (an hour): each try redid the whole log.
	if n := bytes.Count(out, []byte(`msg="store: checkpoint failed`)); n != 1 {
		t.Errorf("%d checkpoints failed before Close, want 1 (no retry at each write):\n%s", n, out)
	}
	s := openStore(t, path, store.Options{})
	if v, err := s.Get("b", "k"); err != nil || string(v) != "v" {
		t.Errorf("after the failed checkpoint and Close: k = %q, %v; want the answered \"v\"", v, err)
	}
}

// A power cut that damaged record 2 and kept record 3 ends the redo at 1.
// The log then starts again at record 2: the old record 3 behind a new
// record 2 of the same length must not follow it in the next redo.
func TestARecordBehindADamagedOneIsNeverRedone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	s := openStore(t, path, store.Options{CheckpointInterval: time.Hour})
	logSize := func(p string) int {
		fi, err := os.Stat(p + ".wal")
		if err != nil {
			t.Fatal(err)
		}
		return int(fi.Size())
	}
	mustPut(t, s, "k1", "one") // record 1
	l1 := logSize(path)
	mustPut(t, s, "k2", "two")   // record 2, damaged below
	mustPut(t, s, "k1", "stale") // record 3, whole
	cp := crashCopy(t, path, true)
	log, err := os.ReadFile(cp + ".wal")
	if err != nil {
		t.Fatal(err)
	}
	log[l1+20] ^= 0xff
	if err := os.WriteFile(cp+".wal", log, 0o600); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, cp, store.Options{CheckpointInterval: time.Hour})
	wantKV(t, s2, map[string]string{"k1": "one"})
	// A record of key k1 as long as the old records 1 and 2 together
	// (same key length as record 1, so len("one") more in the value).
	l2 := l1 + len("two") - len("one") // record 2: key k2, value two
	v := strings.Repeat("n", l1+l2-l1+len("one"))
	mustPut(t, s2, "k1", v)
	wantKV(t, openStore(t, crashCopy(t, cp, true), store.Options{}), map[string]string{"k1": v})
}

// A log whose records do not follow the database's last checkpoint (the
// data file was deleted or restored after a kill) is refused, naming the
// log, and a read-only open of a missing data file still fails.
func TestALogOfAnotherDatabaseIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	s := openStore(t, path, store.Options{CheckpointInterval: 5 * time.Millisecond})
	mustPut(t, s, "old", "1") // record 1
	waitCheckpointed(t, path, "old", "1")
	cp := crashCopy(t, path, true) // its database holds record 1
	mustPut(t, s, "mid", "2")      // record 2
	waitCheckpointed(t, path, "mid", "2")
	mustPut(t, s, "newer", "3") // record 3, at the log's start
	newer := crashCopy(t, path, true)
	if err := os.Rename(cp, newer); err != nil { // the older database beside the newer log
		t.Fatal(err)
	}
	_, err := store.Open(newer, store.Options{})
	if err == nil || !strings.Contains(err.Error(), newer+".wal") || !strings.Contains(err.Error(), "does not follow") {
		t.Errorf("Open = %v, want the log refused by name", err)
	}
	if err := os.Remove(newer); err != nil {
		t.Fatal(err)
	}
	if ro, err := store.OpenReadOnly(newer); err == nil {
		ro.Close()
		t.Error("OpenReadOnly of a missing data file succeeded")
	}
}

// Put promises only that value is not modified until it returns; the
// interval mode keeps it in its open transaction for longer.
func TestAValueReusedAfterPutReturnsIsStoredAsItWas(t *testing.T) {
	for _, mode := range []string{store.SyncInterval, store.SyncAlways} {
		t.Run(mode, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "a.db")
			s := openStore(t, path, store.Options{CheckpointInterval: time.Hour, Sync: mode})
			buf := []byte("first")
			if err := s.Put("b", "k", buf); err != nil {
				t.Fatal(err)
			}
			copy(buf, "XXXXX")
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			wantKV(t, openStore(t, path, store.Options{}), map[string]string{"k": "first"})
		})
	}
}

// Writers and readers at once, with checkpoints every few milliseconds:
// every read sees the reader's own last write; readers racing Close
// return.
func TestReadYourWritesAcrossCheckpoints(t *testing.T) {
	s, err := store.Open(filepath.Join(t.TempDir(), "a.db"), store.Options{CheckpointInterval: 3 * time.Millisecond,
		CheckpointBytes: 4096, SyncInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			k := fmt.Sprint("g", g)
			for i := range 150 {
				v := fmt.Sprint(i)
				var err error
				var got []byte
				if i%2 == 0 {
					if err = s.Put("b", k, []byte(v)); err == nil {
						got, err = s.Get("b", k)
					}
				} else if err = s.Commit(engine.Commit{Rule: k, RuleState: json.RawMessage(v)}); err == nil {
					got, err = s.RuleState(k)
				}
				if err != nil || string(got) != v {
					t.Errorf("%s: read %q, %v after writing %q", k, got, err, v)
					return
				}
			}
		})
	}
	wg.Wait()
	var readers sync.WaitGroup
	for range 100 {
		readers.Go(func() { _, _ = s.Get("b", "g1") })
	}
	if err := s.Close(); err != nil {
		t.Error(err)
	}
	readers.Wait()
}
