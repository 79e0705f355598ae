package host

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultWatchDebounce is how long rule files must stay unchanged after a
// change before `run --watch` reloads them: an editor's save (a temporary
// file, a rename, a chmod) and a `git checkout` of many files are one
// reload.
const DefaultWatchDebounce = 300 * time.Millisecond

// rulesWatcher reports changes to the rule files and lib/ modules under a
// rules directory, including its subdirectories made later.
type rulesWatcher struct {
	w   *fsnotify.Watcher
	dir string
	log *slog.Logger
}

// watchRules starts watching dir and every directory below it that holds
// rules or modules (hidden ones are skipped, as the loader skips them).
func watchRules(dir string, log *slog.Logger) (*rulesWatcher, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", dir, err)
	}
	rw := &rulesWatcher{w: w, dir: dir, log: log}
	if err := rw.addTree(dir); err != nil {
		w.Close()
		return nil, err
	}
	return rw, nil
}

// addTree watches root and the directories below it.
func (rw *rulesWatcher) addTree(root string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			if path == rw.dir {
				return configErrorf("--watch: the rules %s are a file; watching takes a rules directory", path)
			}
			return nil
		}
		if path != rw.dir && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if err := rw.w.Add(path); err != nil {
			return fmt.Errorf("watch %s: %w", path, err)
		}
		return nil
	})
}

// relevant reports whether ev may change what the rules directory loads:
// a .lua file (a rule or a module; not a *_test.lua), a directory made
// (now watched too) or something removed or moved away (a directory's
// files go with it). Editors' swap and backup files are not.
func (rw *rulesWatcher) relevant(ev fsnotify.Event) bool {
	name := filepath.Base(ev.Name)
	switch {
	case strings.HasPrefix(name, "."):
		return false
	case strings.HasSuffix(name, ".lua"):
		return !strings.HasSuffix(name, "_test.lua")
	case ev.Has(fsnotify.Create):
		isDir := false
		_ = filepath.WalkDir(ev.Name, func(_ string, d fs.DirEntry, err error) error {
			isDir = err == nil && d.IsDir()
			return filepath.SkipAll
		})
		if isDir {
			if err := rw.addTree(ev.Name); err != nil {
				// Its files still load with this reload; later edits in it go unseen.
				rw.log.Warn("watching a new rules directory", "err", err)
			}
		}
		return isDir
	}
	return ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename)
}

// runWatch calls reload once the relevant changes have been quiet for
// debounce, until ctx ends; it then closes the watcher.
func (h *host) runWatch(ctx context.Context, rw *rulesWatcher, debounce time.Duration) error {
	defer rw.w.Close()
	quiet := time.NewTimer(debounce)
	quiet.Stop()
	var changed string // the latest file changed, for the log
	for {
		select {
		case <-ctx.Done():
			quiet.Stop()
			return nil
		case ev, ok := <-rw.w.Events:
			if !ok {
				return nil
			}
			if !rw.relevant(ev) {
				continue
			}
			changed = ev.Name
			quiet.Reset(debounce)
		case err, ok := <-rw.w.Errors:
			if !ok {
				return nil
			}
			// An overflow loses events: reload to be sure.
			h.opts.Log.Warn("watching the rule files", "err", err)
			quiet.Reset(debounce)
		case <-quiet.C:
			h.opts.Log.Info("rule files changed: reloading", "file", changed)
			h.reload()
		}
	}
}
