package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunWatchReloadsOnSave: with --watch, saving a rule file reloads the
// rules; a broken save is logged and degrades /healthz while the old
// rules keep running; fixing it reloads again.
func TestRunWatchReloadsOnSave(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.lua", `return rule "a" { when = event "x", run = function() end }`)
	d := startRun(t, dir, filepath.Join(t.TempDir(), "alexarules.db"), "--watch")
	ids := func() string {
		var rules []struct{ ID, Status string }
		if err := json.Unmarshal([]byte(d.get("/api/rules")), &rules); err != nil {
			d.t.Fatal(err)
		}
		var out []string
		for _, r := range rules {
			out = append(out, r.ID+":"+r.Status)
		}
		return strings.Join(out, ",")
	}

	// An atomic save, as editors do it: a temporary file renamed over.
	tmp := filepath.Join(dir, ".a.lua.tmp")
	if err := os.WriteFile(tmp, []byte(`return { rule "a" { when = event "x", run = function() end }, rule "b" { when = event "y", run = function() end } }`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "a.lua")); err != nil {
		t.Fatal(err)
	}
	d.waitFor(func() bool { return ids() == "a:running,b:running" }, "rule b loaded after the save")

	write(t, dir, "a.lua", "return rule \"a\" {\n  when = event \"x\",\n  run = function() end,\n  mode = \"singel\",\n}")
	d.waitFor(func() bool { return strings.Contains(d.get("/healthz"), `"degraded"`) }, "healthz degraded by the broken save")
	if h := d.get("/healthz"); !strings.Contains(h, "a.lua:4: ") {
		t.Errorf("healthz does not name the error: %s", h)
	}
	if got := ids(); got != "a:error,b:error" {
		t.Errorf("after a broken save /api/rules = %s, want the old rules, marked", got)
	}
	if !strings.Contains(d.log(), "reload refused: the running rules stay") {
		t.Errorf("the broken save is not logged:\n%s", d.log())
	}
	if status := d.post("/api/events", `{"name":"y"}`); status != 202 {
		t.Fatalf("POST: %d", status)
	}
	d.waitFor(func() bool { return len(d.runs("b")) == 1 }, "the old rule b still running")

	write(t, dir, "a.lua", `return rule "a" { when = event "x", run = function() end }`)
	d.waitFor(func() bool { return ids() == "a:running" && strings.Contains(d.get("/healthz"), `"status": "ok"`) }, "the fixed save reloaded")
	stopDaemon(d)
}
