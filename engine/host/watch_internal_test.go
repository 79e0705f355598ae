package host

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/fsnotify/fsnotify"
)

// TestWatchRelevantChanges: rule files and modules count, tests, hidden
// files and editors' scratch files do not; a new directory is watched.
func TestWatchRelevantChanges(t *testing.T) {
	dir := t.TempDir()
	rw, err := watchRules(dir, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer rw.w.Close()
	sub := filepath.Join(dir, "lib")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		op   fsnotify.Op
		want bool
	}{
		{"wake.lua", fsnotify.Write, true},
		{"wake.lua", fsnotify.Create, true},
		{"wake.lua", fsnotify.Remove, true},
		{"lib/util.lua", fsnotify.Write, true},
		{"wake_test.lua", fsnotify.Write, false},
		{".wake.lua.swp", fsnotify.Write, false},
		{".wake.lua.tmp", fsnotify.Create, false},
		{"wake.lua~", fsnotify.Write, false},
		{"4913", fsnotify.Create, false}, // vim's probe file does not exist: not a directory
		{"lib", fsnotify.Create, true},
		{"old", fsnotify.Remove, true},
	} {
		ev := fsnotify.Event{Name: filepath.Join(dir, tc.name), Op: tc.op}
		if got := rw.relevant(ev); got != tc.want {
			t.Errorf("%s %s: relevant = %v, want %v", tc.op, tc.name, got, tc.want)
		}
	}
	if !slices.Contains(rw.w.WatchList(), sub) {
		t.Errorf("the new directory is not watched: %v", rw.w.WatchList())
	}
	file := filepath.Join(dir, "one.lua")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := watchRules(file, slog.New(slog.DiscardHandler)); !IsConfigError(err) {
		t.Errorf("watching a file: %v, want a configuration error", err)
	}
}
