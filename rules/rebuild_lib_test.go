package rules_test

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
)

// rebuildLibFiles are a rule that requires a lib module at its top level
// and one that does so in its run, and a second rule whose runs release
// their states (the engine keeps one).
var rebuildLibFiles = map[string]string{
	"lib/words.lua": `return { word = function() return "loaded" end }`,
	"lib/late.lua":  `return "late as loaded"`,
	"r.lua": `local words = require "words"
local word = words.word()
return rule "r" { when = event "tick-r", run = function(ctx)
  ctx.log.info("%s %s", word, words.word())
  ctx.log.info(require "late")
end }`,
	"other.lua": `return rule "other" { when = event "tick-other", run = function() end }`,
}

// A state rebuilt after its release runs the lib modules as the rules were
// loaded, not as they are on disk now: editing lib/ changes the rules at
// the next reload, which checks the files and names their errors, never
// in the middle of a loaded set.
func TestRebuiltStatesRunTheLibModulesAsLoaded(t *testing.T) {
	edits := map[string]map[string]string{
		"a module that returns something else": {"words.lua": `return 42`, "late.lua": `return 43`},
		"a syntax error":                       {"words.lua": `return {`, "late.lua": `return (`},
		"a missing file":                       {"words.lua": "", "late.lua": ""},
	}
	for name, edit := range edits {
		t.Run(name, func(t *testing.T) {
			h := &harness{t: t, dir: writeRules(t, rebuildLibFiles), db: filepath.Join(t.TempDir(), "test.db"),
				clock: engine.NewVirtual(start), maxStates: 1}
			h.start()
			t.Cleanup(h.stop)
			want := []string{"info: loaded loaded", "info: late as loaded"}
			for round := 1; round <= 3; round++ {
				h.emit("tick-r", nil)
				if tr := h.waitRuns(round, ofRule("r"))[round-1]; tr.Error != "" || !slices.Equal(tr.Log, want) {
					t.Fatalf("round %d: error %q, log %q; want log %q", round, tr.Error, tr.Log, want)
				}
				h.emit("tick-other", nil) // releases r's state
				h.waitRuns(round, ofRule("other"))
				if round == 1 {
					editLib(t, h.dir, edit)
				}
			}
		})
	}
}

// editLib writes the lib modules given; an empty source removes the file.
func editLib(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, src := range files {
		p := filepath.Join(dir, "lib", name)
		var err error
		if src == "" {
			err = os.Remove(p)
		} else {
			err = os.WriteFile(p, []byte(src), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// A rebuild that fails nevertheless (here a module's top level that fails
// at a later time) fails the run with the rule, the file and the line in
// its trace, and the other rules run on.
func TestAFailedRebuildNamesTheRuleFileAndLine(t *testing.T) {
	late := start.Add(time.Hour).Unix()
	h := &harness{t: t, dir: writeRules(t, map[string]string{
		"lib/clock.lua": `local t = {}
if os.time() >= ` + strconv.FormatInt(late, 10) + ` then
  error("too late for this module")
end
return t`,
		"r.lua": `local clock = require "clock"
return rule "r" { when = event "tick-r", run = function() end }`,
		"other.lua": `return rule "other" { when = event "tick-other", run = function(ctx) ctx.log.info("ran") end }`,
	}), db: filepath.Join(t.TempDir(), "test.db"), clock: engine.NewVirtual(start), maxStates: 1}
	h.start()
	t.Cleanup(h.stop)
	h.emit("tick-r", nil)
	h.waitRuns(1, ofRule("r"))
	h.emit("tick-other", nil) // releases r's state
	h.waitRuns(1, ofRule("other"))
	h.clock.Advance(time.Hour)
	h.emit("tick-r", nil)
	tr := h.waitRuns(2, ofRule("r"))[1]
	for _, want := range []string{`rule "r"`, filepath.Join(h.dir, "r.lua") + ":1", filepath.Join(h.dir, "lib", "clock.lua") + ":3: too late for this module"} {
		if tr.Outcome != engine.OutcomeFailed || !strings.Contains(tr.Error, want) {
			t.Errorf("outcome %s, error %q; want it to contain %q", tr.Outcome, tr.Error, want)
		}
	}
	h.emit("tick-other", nil)
	if tr := h.waitRuns(2, ofRule("other"))[1]; tr.Error != "" || !slices.Equal(tr.Log, []string{"info: ran"}) {
		t.Fatalf("the other rule after the failed rebuild: %+v", tr)
	}
}

// A module added to lib/ after the load (or lib/ itself) reaches the rules
// at the next reload, like an edit: until then require reports it missing,
// as it was when the rules were loaded.
func TestAModuleAddedAfterTheLoadWaitsForTheReload(t *testing.T) {
	for name, withLib := range map[string]bool{"lib/ without the module": true, "no lib/ at all": false} {
		t.Run(name, func(t *testing.T) {
			files := map[string]string{
				"r.lua": `return rule "r" { when = event "tick-r", run = function(ctx)
  ctx.log.info(require "late")
end }`,
			}
			if withLib {
				files["lib/other.lua"] = `return 1`
			}
			h := &harness{t: t, dir: writeRules(t, files), db: filepath.Join(t.TempDir(), "test.db"),
				clock: engine.NewVirtual(start)}
			h.start()
			t.Cleanup(h.stop)
			if err := os.MkdirAll(filepath.Join(h.dir, "lib"), 0o755); err != nil {
				t.Fatal(err)
			}
			editLib(t, h.dir, map[string]string{"late.lua": "return (\n"})
			h.emit("tick-r", nil)
			tr := h.waitRuns(1, ofRule("r"))[0]
			if !strings.Contains(tr.Error, `module "late" not found`) {
				t.Fatalf("run after adding lib/late.lua: error %q, log %q; want module \"late\" not found (as loaded)", tr.Error, tr.Log)
			}
			editLib(t, h.dir, map[string]string{"late.lua": `return "added"`})
			h.restart() // a new load of the rules, as a reload
			h.emit("tick-r", nil)
			if tr := h.waitRuns(1, ofRule("r"))[0]; tr.Error != "" || !slices.Equal(tr.Log, []string{"info: added"}) {
				t.Fatalf("run after the reload: error %q, log %q; want the log [info: added]", tr.Error, tr.Log)
			}
		})
	}
}
