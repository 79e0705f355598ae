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
