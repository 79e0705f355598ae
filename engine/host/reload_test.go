package host_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/alexarules/alexarules/engine/host"
)

type health struct {
	Status string `json:"status"`
	Reload *struct {
		OK     bool     `json:"ok"`
		Time   string   `json:"time"`
		Errors []string `json:"errors"`
	} `json:"reload"`
}

type ruleEntry struct {
	ID      string `json:"id"`
	File    string `json:"file"`
	Enabled bool   `json:"enabled"`
	Status  string `json:"status"`
	Error   string `json:"error"`
}

func (r *running) health() health {
	r.t.Helper()
	var h health
	r.getJSON("/healthz", &h)
	return h
}

func (r *running) rules() map[string]ruleEntry {
	r.t.Helper()
	var list []ruleEntry
	r.getJSON("/api/rules", &list)
	out := map[string]ruleEntry{}
	for _, e := range list {
		out[e.ID+"@"+e.File[strings.LastIndexByte(e.File, '/')+1:]] = e
	}
	return out
}

const goodRule = `return rule "good" { when = event "x", run = function() end }`

func TestAFailedReloadShowsInHealthAndRules(t *testing.T) {
	for _, via := range []string{"signal", "POST /api/reload"} {
		t.Run(via, func(t *testing.T) {
			dir := t.TempDir()
			write(t, dir, "good.lua", goodRule)
			write(t, dir, "off.lua", `return rule "off" { enabled = false, when = event "x", run = function() end }`)
			write(t, dir, "never.lua", `return rule "never" { when = cron "nope", run = function() end }`)
			reload := make(chan struct{})
			r := startHost(t, host.Options{Config: host.Config{Rules: dir}, Reload: reload})
			if h := r.health(); h.Status != "ok" || h.Reload != nil {
				t.Fatalf("healthz before any reload: %+v", h)
			}
			rules := r.rules()
			if rules["good@good.lua"].Status != "running" || rules["off@off.lua"].Status != "disabled" {
				t.Fatalf("rules at start: %+v", rules)
			}
			if e := rules["@never.lua"]; e.Status != "error" || e.Enabled || !strings.Contains(e.Error, "never.lua:1:") {
				t.Fatalf("a file that failed at start-up: %+v", e)
			}

			write(t, dir, "good.lua", "return rule \"good\" {\n when = event \"x\", mode = \"singel\", run = function() end }")
			trigger := func() {
				if via == "signal" {
					reload <- struct{}{}
					r.waitFor("the reload", func() bool { return r.health().Reload != nil })
					return
				}
				if status, body := r.do("POST", "/api/reload", ""); status != http.StatusUnprocessableEntity {
					t.Fatalf("POST /api/reload: %d %s", status, body)
				}
			}
			trigger()
			h := r.health()
			if h.Status != "degraded" || h.Reload.OK || h.Reload.Time == "" || !contains(h.Reload.Errors, "good.lua:2: ") || !contains(h.Reload.Errors, "never.lua:1:") {
				t.Fatalf("healthz after a failed reload: %+v", h)
			}
			rules = r.rules()
			if e := rules["good@good.lua"]; e.Status != "error" || !strings.Contains(e.Error, `did you mean "single"`) {
				t.Fatalf("the running rule whose file failed: %+v", e)
			}
			if e := rules["@never.lua"]; e.Status != "error" {
				t.Fatalf("the file still failing: %+v", e)
			}
			if logged := r.logs.errorsLogged(); !contains(logged, "good.lua:2: ") {
				t.Fatalf("the reload's errors were not logged at ERROR: %q", logged)
			}

			write(t, dir, "good.lua", goodRule)
			write(t, dir, "never.lua", `return rule "never" { when = cron "@every 1h", run = function() end }`)
			if via == "signal" {
				reload <- struct{}{}
				r.waitFor("the good reload", func() bool { return r.health().Status == "ok" })
			} else if status, body := r.do("POST", "/api/reload", ""); status != http.StatusOK {
				t.Fatalf("POST /api/reload: %d %s", status, body)
			}
			h = r.health()
			if h.Status != "ok" || !h.Reload.OK || len(h.Reload.Errors) != 0 {
				t.Fatalf("healthz after a good reload: %+v", h)
			}
			rules = r.rules()
			if len(rules) != 3 || rules["good@good.lua"].Status != "running" || rules["never@never.lua"].Status != "running" {
				t.Fatalf("rules after a good reload: %+v", rules)
			}
		})
	}
}

func contains(list []string, sub string) bool {
	for _, s := range list {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// A reload that fails outside the rule files (the directory is gone) is
// shown in /healthz too, without a file.
func TestAReloadOfAMissingDirectoryIsShown(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "good.lua", goodRule)
	r := startHost(t, host.Options{Config: host.Config{Rules: dir + "/"}})
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	status, body := r.do("POST", "/api/reload", "")
	h := r.health()
	if status != http.StatusUnprocessableEntity || h.Status != "degraded" || len(h.Reload.Errors) != 1 {
		t.Fatalf("reload of a missing directory: %d %s, healthz %+v", status, body, h)
	}
	if rules := r.rules(); rules["good@good.lua"].Status != "running" || len(rules) != 1 {
		t.Fatalf("the running rules must stay: %s", fmt.Sprint(rules))
	}
}

// A lib module edited on disk changes the rules at the next reload, which
// names the module's error by file and line and keeps the running rules;
// until then a rule whose state was released and rebuilt runs the module
// as loaded.
func TestALibModuleChangesAtTheReloadNotAtARebuild(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, dir, "lib/word.lua", `return "loaded"`)
	write(t, dir, "r.lua", `local word = require "word"
return rule "r" { when = event "r", run = function(ctx) ctx.log.info(word) end }`)
	write(t, dir, "other.lua", `return rule "other" { when = event "other", run = function() end }`)
	r := startHost(t, host.Options{Config: host.Config{Rules: dir, States: host.StatesConfig{Max: 1}}})
	runs := 0
	fire := func(want string) {
		t.Helper()
		runs++
		if status, body := r.do("POST", "/api/events", `{"name":"r"}`); status != http.StatusAccepted {
			t.Fatalf("POST /api/events: %d %s", status, body)
		}
		var traces, others []struct {
			Error string   `json:"error"`
			Log   []string `json:"log"`
		}
		r.waitFor("the run of r", func() bool { r.getJSON("/api/runs?rule=r", &traces); return len(traces) == runs })
		if tr := traces[0]; tr.Error != "" || len(tr.Log) != 1 || tr.Log[0] != "info: "+want {
			t.Fatalf("run %d of r: %+v, want the log %q", runs, tr, want)
		}
		// The other rule's run releases r's state (states.max 1).
		if status, body := r.do("POST", "/api/events", `{"name":"other"}`); status != http.StatusAccepted {
			t.Fatalf("POST /api/events: %d %s", status, body)
		}
		r.waitFor("the run of other", func() bool { r.getJSON("/api/runs?rule=other", &others); return len(others) == runs })
	}
	fire("loaded")
	write(t, dir, "lib/word.lua", "return {\n  a = ,\n}") // a syntax error, on disk only
	fire("loaded")
	status, body := r.do("POST", "/api/reload", "")
	if status != http.StatusUnprocessableEntity || !strings.Contains(body, "word.lua:2: ") || !strings.Contains(body, "r.lua:1: ") {
		t.Fatalf("reload with a broken module: %d %s", status, body)
	}
	fire("loaded")
	write(t, dir, "lib/word.lua", `return "reloaded"`)
	if status, body := r.do("POST", "/api/reload", ""); status != http.StatusOK {
		t.Fatalf("reload with the module mended: %d %s", status, body)
	}
	fire("reloaded")
}
