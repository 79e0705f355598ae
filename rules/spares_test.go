package rules

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/enginetest"
)

// writeRules writes the files (name → source; a name may have
// directories) into a new temporary directory and returns it.
func writeRules(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// loadSpares loads the files (name → source, in one directory each when
// the name has a directory) with n spare states.
func loadSpares(t *testing.T, files map[string]string, n int) map[string]*Loaded {
	t.Helper()
	dir := writeRules(t, files)
	var paths []string
	for name := range files {
		if p := filepath.Join(dir, name); filepath.Base(filepath.Dir(p)) != "lib" {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	set, err := Load(Options{Clock: engine.NewVirtual(time.Date(2026, 3, 2, 7, 0, 0, 0, time.UTC)), Location: time.UTC,
		SpareStates: n}, paths...)
	if err != nil || len(set.Errors) > 0 {
		t.Fatal(err, set.Errors)
	}
	byID := map[string]*Loaded{}
	for _, l := range set.Rules {
		byID[l.Def.ID] = l
	}
	return byID
}

// runOnce makes an instance of l, runs it on a custom event and closes
// it; it returns the run's log and the instance's Lua state.
func runOnce(t *testing.T, l *Loaded) ([]string, *lua.LState) {
	t.Helper()
	in, err := l.newInstance(slog.New(slog.DiscardHandler), false)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	L := in.L
	res := in.Run(context.Background(), &engine.Invocation{Event: &engine.Event{ID: "e", Kind: engine.KindCustom, Name: "go"}})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	return res.Log, L
}

// spareFull waits until l's rule set has n spares and no filler.
func spareFull(t *testing.T, l *Loaded, n int) {
	t.Helper()
	s := l.opts.spares
	enginetest.WaitUntil(t, "the spare states made", func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.free) == n && !s.filling
	})
}

func TestSpareStatesAreBoundedAndRefilledAfterUse(t *testing.T) {
	rs := loadSpares(t, map[string]string{"r.lua": `return rule "r" { when = event "go", run = function() end }`}, 3)
	l := rs["r"]
	if got := l.opts.spares.ready(); got != 0 {
		t.Fatalf("%d spares made at load; they are made once a rule needs a state", got)
	}
	runOnce(t, l)
	spareFull(t, l, 3)
	for range 20 {
		runOnce(t, l)
		if got := l.opts.spares.ready(); got > 3 {
			t.Fatalf("%d spares kept, more than the 3 allowed", got)
		}
	}
	spareFull(t, l, 3)

	none := loadSpares(t, map[string]string{"r.lua": `return rule "r" { when = event "go", run = function() end }`}, -1)["r"]
	runOnce(t, none)
	if s := none.opts.spares; s.ready() != 0 || s.filling {
		t.Fatal("SpareStates < 0 must keep no spare and start no filler")
	}
}

// A spare is used once: what a rule's code left in its state (globals,
// the shared libraries' per-state tables) never reaches another rule,
// and no state is given out twice.
func TestSpareStatesNeverCarryOneRulesStateToAnother(t *testing.T) {
	rs := loadSpares(t, map[string]string{"r.lua": `
LOADED = (LOADED or 0) + 1
return {
  rule "a" { when = event "go", run = function(ctx)
    LEAK = "from a"; string.leak = "from a"; ctx.rule = "changed by a"
    print("a ran")
  end },
  rule "b" { when = event "go", run = function(ctx)
    ctx.log.info("rule=%s leak=%s string.leak=%s loaded=%d", ctx.rule, tostring(LEAK), tostring(string.leak), LOADED)
  end },
}`}, 2)
	seen := map[*lua.LState]bool{}
	for i := range 10 {
		log, L := runOnce(t, rs["a"])
		if !slices.Equal(log, []string{"info: a ran"}) {
			t.Fatalf("a's print must land in a's run log: %q", log)
		}
		log, L2 := runOnce(t, rs["b"])
		if want := []string{"info: rule=b leak=nil string.leak=nil loaded=1"}; !slices.Equal(log, want) {
			t.Fatalf("round %d: b saw %q, want %q", i, log, want)
		}
		for _, l := range []*lua.LState{L, L2} {
			if seen[l] {
				t.Fatalf("round %d: a Lua state was given to a second instance", i)
			}
			seen[l] = true
		}
		if i == 0 {
			spareFull(t, rs["a"], 2) // later rounds take spares made ahead
		}
	}
}

// A spare made for the rules of one directory loads the modules of the
// directory of the rule it is given to.
func TestSpareStatesRequireFromTheirRulesDirectory(t *testing.T) {
	rs := loadSpares(t, map[string]string{
		"one/lib/where.lua": `return "one"`,
		"one/r.lua":         `local w = require "where"; return rule "one" { when = event "go", run = function(ctx) ctx.log.info(w) end }`,
		"two/lib/where.lua": `return "two"`,
		"two/r.lua":         `local w = require "where"; return rule "two" { when = event "go", run = function(ctx) ctx.log.info(w) end }`,
	}, 4)
	runOnce(t, rs["one"])
	spareFull(t, rs["one"], 4) // made for the directory "one"
	for _, id := range []string{"two", "one", "two"} {
		if log, _ := runOnce(t, rs[id]); !slices.Equal(log, []string{"info: " + id}) {
			t.Fatalf("rule %s loaded %q", id, log)
		}
	}
}

// A rebuilt instance runs with the rule as loaded (its trigger ids, its
// handlers) and the functions of its own state: module-level variables
// start again, ctx.state is the store's to carry.
func TestRebuiltInstanceUsesTheLoadedRuleWithItsOwnTable(t *testing.T) {
	rs := loadSpares(t, map[string]string{"r.lua": `
local runs = 0
return rule "r" {
  when = event("go", { id = "by-go" }),
  handlers = { later = function() end },
  run = function(ctx, ev)
    runs = runs + 1
    ctx.log.info("%s %s runs=%d", ctx.rule, tostring(ev.trigger), runs)
    ctx.after("1m", "later")
  end,
}`}, 2)
	l := rs["r"]
	for i := range 3 {
		in, err := l.newInstance(slog.New(slog.DiscardHandler), false)
		if err != nil {
			t.Fatal(err)
		}
		if in.def == l.Def || in.def.table == nil || in.def.Triggers[0] != l.Def.Triggers[0] {
			t.Fatalf("round %d: the instance's rule must be the loaded one with a table of its own", i)
		}
		res := in.Run(context.Background(), &engine.Invocation{TriggerIndex: 0,
			Event: &engine.Event{ID: "e", Kind: engine.KindCustom, Name: "go"}})
		in.Close()
		if res.Err != nil || len(res.Timers) != 1 || res.Timers[0].Handler != "later" {
			t.Fatalf("round %d: %+v", i, res)
		}
		if want := []string{"info: r by-go runs=1"}; !slices.Equal(res.Log, want) {
			t.Fatalf("round %d: log %q, want %q", i, res.Log, want)
		}
		if i == 0 {
			spareFull(t, l, 2)
		}
	}
}
