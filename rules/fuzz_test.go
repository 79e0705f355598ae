package rules_test

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/examples"
	"github.com/alexarules/alexarules/rules"
)

// fuzzSeeds are rule files that exercise every trigger constructor, option
// kind and rule field, valid and not.
var fuzzSeeds = []string{
	`return rule "a" { when = event "x", run = function() end }`,
	`return rule "a" { when = { cron "0 7 * * 1-5", schedule("sat,sun 09:30", { tz = "Europe/Berlin", missed = "run" }) },
	  mode = "queued", max = 3, timeout = "2s", throttle = "1m", log = "debug", enabled = false,
	  state = { n = 0, s = "x", l = { 1, 2 } }, run = function(ctx) end, handlers = { h = function() end } }`,
	`return rule "a" { when = event("x", { match = { k = "v" }, id = "e" }), only_if = function() return true end,
	  unless = { function() return false end }, run = function() end }`,
	`return rule "a" { when = { startup(), alexa.alarm { device = "d", label = "l", state = "ringing" },
	  alexa.timer { state = "paused" }, alexa.reminder {}, alexa.volume { above = 3, below = 9 } }, run = function() end }`,
	`return rule "a" { when = alexa.list { list = "Shopping", op = "added", pattern = "^m" }, run = function() end }`,
	`return rule "a" { when = { reading { device = "d", attr = "temperature", above = 20, hold = "5m", rearm = 1 },
	  reachable { device = "d", hold = "1m" }, unreachable { device = "d" } }, run = function() end }`,
	"return rule \"r\" {\n  when = evnt \"x\",\n  mdoe = \"single\",\n}",
	"return { rule \"a\" { when = event \"x\", run = function() end }, rule \"a\" { when = event \"y\", run = function() end } }",
	`local n = 0 for i = 1, 10 do n = n + i end print(os.time(), time.format(0, "%H:%M"), string.rep("x", 3)) return rule "a" { when = event "x", run = function() end }`,
	`return rule "a" { when = cron "@daily", run = function(ctx, ev) ctx.after("5m", "h") end, handlers = { h = function() end } }`,
	"while true do end",
	`require "nothing"`,
}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// FuzzLoad: loading any file's bytes returns within the load timeout,
// never panics, and either yields valid rules (id, file, line, JSON state,
// engine rules with every trigger) or load errors that name the file.
func FuzzLoad(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	_ = fs.WalkDir(examples.Files, ".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := fs.ReadFile(examples.Files, path)
			f.Add(b)
		}
		return nil
	})
	if doc, err := os.ReadFile("../docs/RULES.md"); err == nil {
		for _, block := range strings.Split(string(doc), "```lua\n")[1:] {
			f.Add([]byte(strings.SplitN(block, "```", 2)[0]))
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		dir := t.TempDir()
		file := filepath.Join(dir, "r.lua")
		if err := os.WriteFile(file, src, 0o644); err != nil {
			t.Fatal(err)
		}
		set, err := rules.Load(rules.Options{Clock: engine.NewVirtual(start), Location: time.UTC,
			LoadTimeout: 200 * time.Millisecond}, dir)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		for _, err := range set.Errors {
			checkLoadError(t, err, file, src)
		}
		for _, l := range set.Rules {
			checkLoaded(t, l, file)
		}
	})
}

func checkLoadError(t *testing.T, err error, file string, src []byte) {
	t.Helper()
	le, ok := errors.AsType[*rules.LoadError](err)
	if !ok {
		t.Fatalf("error %T %v is not a LoadError", err, err)
	}
	if le.File == "" || strings.TrimSpace(le.Msg) == "" || le.Line < 0 {
		t.Fatalf("load error without file or message: %+v", le)
	}
	// error("other:N: msg", 0) is reported as written; any other error
	// names the file that failed.
	if le.File != file && !strings.Contains(string(src), le.File) {
		t.Fatalf("load error %q does not name %s", err, file)
	}
}

func checkLoaded(t *testing.T, l *rules.Loaded, file string) {
	t.Helper()
	d := l.Def
	// Line is 0 when rule is called from Go (pcall(rule, "id")): no Lua line.
	if !idPattern.MatchString(d.ID) || d.File != file || d.Line < 0 {
		t.Fatalf("loaded rule id %q file %q line %d", d.ID, d.File, d.Line)
	}
	if d.State != nil && !json.Valid(d.State) {
		t.Fatalf("rule %s: state is not JSON: %q", d.ID, d.State)
	}
	r := l.Engine(nil, true)
	if r.ID != d.ID || len(r.Triggers) != len(d.Triggers) {
		t.Fatalf("engine rule %q has %d triggers, def %q has %d", r.ID, len(r.Triggers), d.ID, len(d.Triggers))
	}
	in, err := r.NewInstance()
	if err == nil {
		in.Close()
	}
}
