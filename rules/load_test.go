package rules_test

import (
	"strings"
	"testing"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/rules"
)

func load(t *testing.T, files map[string]string) *rules.Set {
	t.Helper()
	set, err := rules.Load(rules.Options{Clock: engine.NewVirtual(start), Location: time.UTC}, writeRules(t, files))
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func TestLoadErrorsNameFileLineAndField(t *testing.T) {
	good := `return rule "good" { when = event "x", run = function() end }`
	tests := []struct {
		name, src string
		want      []string // substrings of the one error, in order
	}{
		{"unknown field with suggestion", "return rule \"r\" {\n  when = event \"x\",\n  mdoe = \"single\",\n  run = function() end,\n}",
			[]string{"r.lua:3:", `field "mdoe"`, `did you mean "mode"`}},
		{"bad mode", "return rule \"r\" {\n  when = event \"x\",\n  run = function() end,\n  mode = \"paralel\",\n}",
			[]string{"r.lua:4:", `field "mode"`, `unknown mode "paralel"`, `did you mean "parallel"`}},
		{"malformed timeout", "return rule \"r\" {\n  when = event \"x\",\n  timeout = \"5 minutes\",\n  run = function() end,\n}",
			[]string{"r.lua:3:", `field "timeout"`}},
		{"bad cron", "return rule \"r\" {\n  run = function() end,\n  when = cron \"0 25 * * *\",\n}",
			[]string{"r.lua:3:", "cron", "hour"}},
		{"bad schedule day", "return rule \"r\" {\n  run = function() end,\n  when = schedule \"mno-fri 07:00\",\n}",
			[]string{"r.lua:3:", "schedule", "mno"}},
		{"unknown trigger option", "return rule \"r\" {\n  run = function() end,\n  when = alexa.alarm { devcie = \"Bedroom Echo\" },\n}",
			[]string{"r.lua:3:", "alexa.alarm", `unknown option "devcie"`, `did you mean "device"`}},
		{"bad trigger option value", "return rule \"r\" {\n  run = function() end,\n  when = alexa.list { op = \"add\" },\n}",
			[]string{"r.lua:3:", `option "op"`, `did you mean "added"`}},
		{"bad missed policy", "return rule \"r\" {\n  run = function() end,\n  when = cron(\"@daily\", { missed = \"sometimes\" }),\n}",
			[]string{"r.lua:3:", "missed"}},
		{"syntax error", "return rule \"r\" {\n  when = event \"x\"\n  run = function() end,\n}",
			[]string{"r.lua:3"}},
		{"missing run", "return rule \"r\" {\n  when = event \"x\",\n}", []string{"r.lua:1:", `field "run"`, "required"}},
		{"bad id", "return rule \"Bad Id\" { when = event \"x\", run = function() end }", []string{"r.lua:1:", "rule id"}},
		{"returns nothing", "local x = 1", []string{"r.lua", "must return"}},
		{"when is not a trigger", "return rule \"r\" {\n  when = \"event x\",\n  run = function() end,\n}",
			[]string{"r.lua:2:", `field "when"`}},
		{"runtime error at load", "local x = nil\nreturn x.y", []string{"r.lua:2:"}},
		{"bad time zone", "return rule \"r\" { run = function() end,\n when = cron(\"@daily\", { tz = \"Mars/Base\" }) }",
			[]string{"r.lua:2:", "Mars/Base"}},
		{"misspelt trigger", "return rule \"r\" {\n  run = function() end,\n  when = evnt \"x\",\n}",
			[]string{"r.lua:3:", `"evnt" is not a function`, `did you mean "event"`}},
		{"misspelt alexa trigger", "return rule \"r\" {\n  run = function() end,\n  when = alexa.alram {},\n}",
			[]string{"r.lua:3:", "alexa.alram", `did you mean "alarm"`}},
		// One case per field check, so that each field's message is pinned.
		{"description not a string", "return rule \"r\" {\n  when = event \"x\",\n  description = 1,\n  run = function() end,\n}",
			[]string{"r.lua:3:", `field "description"`, "string expected, got number"}},
		{"enabled not a boolean", "return rule \"r\" {\n  when = event \"x\",\n  enabled = \"yes\",\n  run = function() end,\n}",
			[]string{"r.lua:3:", `field "enabled"`, "boolean expected, got string"}},
		{"max not whole", "return rule \"r\" {\n  when = event \"x\",\n  max = 1.5,\n  run = function() end,\n}",
			[]string{"r.lua:3:", `field "max"`, "positive whole number expected, got 1.5"}},
		{"zero throttle", "return rule \"r\" {\n  when = event \"x\",\n  throttle = 0,\n  run = function() end,\n}",
			[]string{"r.lua:3:", `field "throttle"`}},
		{"state not a table", "return rule \"r\" {\n  when = event \"x\",\n  state = 3,\n  run = function() end,\n}",
			[]string{"r.lua:3:", `field "state"`, "table expected, got number"}},
		{"state not plain data", "return rule \"r\" {\n  when = event \"x\",\n  state = { f = print },\n  run = function() end,\n}",
			[]string{"r.lua:3:", `field "state"`, "plain data"}},
		{"run not a function", "return rule \"r\" {\n  when = event \"x\",\n  run = 1,\n}",
			[]string{"r.lua:3:", `field "run"`, "function expected, got number"}},
		{"handler not a function", "return rule \"r\" {\n  when = event \"x\",\n  run = function() end,\n  handlers = { later = 1 },\n}",
			[]string{"r.lua:4:", `field "handlers"`, "handler later must be a function"}},
		{"handlers not a table", "return rule \"r\" {\n  when = event \"x\",\n  run = function() end,\n  handlers = 1,\n}",
			[]string{"r.lua:4:", `field "handlers"`, "table of functions expected"}},
		{"bad log level", "return rule \"r\" {\n  when = event \"x\",\n  run = function() end,\n  log = \"loud\",\n}",
			[]string{"r.lua:4:", `field "log"`, `log level "loud"`}},
		{"bad list pattern", "return rule \"r\" { run = function() end,\n when = alexa.list { pattern = \"[a\" } }",
			[]string{"r.lua:2:", "pattern"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := load(t, map[string]string{"r.lua": tc.src, "good.lua": good})
			if len(set.Rules) != 1 || set.Rules[0].Def.ID != "good" {
				t.Errorf("the good file must still load, got %d rules", len(set.Rules))
			}
			if len(set.Errors) != 1 {
				t.Fatalf("want 1 error, got %d: %v", len(set.Errors), set.Errors)
			}
			msg := set.Errors[0].Error()
			rest := msg
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("error %q: want %q (in order %q)", msg, w, tc.want)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}

func TestLoadReportsEveryBadFieldOfARule(t *testing.T) {
	set := load(t, map[string]string{"r.lua": "return rule \"r\" {\n  when = event \"x\",\n  mode = \"x\",\n  max = -1,\n  run = 3,\n}"})
	if len(set.Errors) != 3 {
		t.Fatalf("want 3 errors (mode, max, run), got %v", set.Errors)
	}
	for i, line := range []string{":3:", ":4:", ":5:"} {
		found := false
		for _, err := range set.Errors {
			found = found || strings.Contains(err.Error(), line)
		}
		if !found {
			t.Errorf("error %d: no error on line %s in %v", i, line, set.Errors)
		}
	}
}

func TestLoadDuplicateIDsAcrossFiles(t *testing.T) {
	set := load(t, map[string]string{
		"a.lua": `return rule "same" { when = event "x", run = function() end }`,
		"b.lua": `return rule "same" { when = event "y", run = function() end }`,
	})
	if len(set.Rules) != 1 || len(set.Errors) != 1 || !strings.Contains(set.Errors[0].Error(), "already defined at") {
		t.Fatalf("rules %d, errors %v", len(set.Rules), set.Errors)
	}
}

func TestLoadListsOfRulesAndEveryField(t *testing.T) {
	set := load(t, map[string]string{"lib/helper.lua": `return { greet = function(n) return "hi " .. n end }`,
		"many.lua": `
local helper = require "helper"
return {
  rule "a" {
    description = "all fields",
    enabled = false,
    when = { event("x", { id = "ex", match = { room = "kitchen" } }), cron("0 7 * * 1-5", { tz = "Europe/Berlin", missed = "30m" }),
             schedule "mon-fri 07:00", startup {}, alexa.alarm { device = "Bedroom Echo", state = "snoozed" },
             alexa.timer {}, alexa.reminder { label = "pills" }, alexa.list { list = "Shopping", op = "added", item = "milk" },
             alexa.volume { device = "Kitchen Echo", above = 50 }, reading { device = "Sensor", attr = "temperature", above = 26 },
             unreachable { device = "*" }, reachable { device = "Porch Light" } },
    only_if = { time.between("05:00", "09:00"), function(ctx, ev) return true end },
    unless = function() return false end,
    mode = "queued", max = 3, timeout = "2s", throttle = "10m", log = "debug",
    state = { n = 0, names = { "x" } },
    run = function(ctx, ev) return helper.greet("x") end,
    handlers = { later = function() end },
  },
  rule "b" { when = event "y", run = function() end },
}`})
	if len(set.Errors) != 0 {
		t.Fatal(set.Errors)
	}
	if len(set.Rules) != 2 {
		t.Fatalf("want 2 rules, got %d", len(set.Rules))
	}
	d := set.Rules[0].Def
	if d.ID != "a" || d.Enabled || d.Mode != engine.ModeQueued || d.Max != 3 || d.Timeout != 2*time.Second ||
		d.Throttle != 10*time.Minute || len(d.Triggers) != 12 || string(d.State) != `{"n":0,"names":["x"]}` ||
		len(d.Handlers) != 1 || d.Description != "all fields" {
		t.Fatalf("unexpected definition: %+v", d)
	}
	if d.Triggers[1].Spec == nil || d.Triggers[0].ID() != "ex" {
		t.Fatalf("cron trigger not parsed or id lost: %+v", d.Triggers[:2])
	}
}

func TestReadingTriggerOptionsAreChecked(t *testing.T) {
	for _, tc := range []struct{ opts, want string }{
		{`attr = "temperature", above = 26, rearm = 27`, "must be below"},
		{`attr = "temperature", below = 18, rearm = 17`, "must be above"},
		{`attr = "temperature", rearm = 17`, "needs"},
		{`attr = "temperature"`, "say what to watch for"},
		{`attr = "temprature", above = 1`, `did you mean "temperature"`},
		{`attr = "temperature", above = 26, hold = "ten minutes"`, "hold"},
		{`attr = "power", equals = {}`, "string, number or boolean"},
	} {
		set := load(t, map[string]string{"r.lua": "return rule \"r\" { run = function() end,\n when = reading { device = \"S\", " + tc.opts + " } }"})
		if len(set.Errors) != 1 || !strings.Contains(set.Errors[0].Error(), tc.want) || !strings.Contains(set.Errors[0].Error(), "r.lua:2:") {
			t.Errorf("%s: want an error with %q at line 2, got %v", tc.opts, tc.want, set.Errors)
		}
	}
}

// A rule file whose top level never ends must not hang `check`, a reload or
// a new instance: the load is cut off with an error naming the file.
func TestLoadStopsEndlessTopLevel(t *testing.T) {
	for name, src := range map[string]string{
		"loop":          "while true do end",
		"loop in pcall": "while true do pcall(function() while true do end end) end",
		"after rule":    "local r = rule \"r\" { when = event \"x\", run = function() end }\nwhile true do end\nreturn r",
	} {
		t.Run(name, func(t *testing.T) {
			dir := writeRules(t, map[string]string{"r.lua": src})
			done := make(chan *rules.Set, 1)
			go func() {
				set, err := rules.Load(rules.Options{Clock: engine.NewVirtual(start), Location: time.UTC,
					LoadTimeout: 50 * time.Millisecond}, dir)
				if err != nil {
					t.Error(err)
				}
				done <- set
			}()
			var set *rules.Set
			select {
			case set = <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("Load did not return")
			}
			if len(set.Rules) != 0 || len(set.Errors) != 1 {
				t.Fatalf("rules %v, errors %v; want one error", set.Rules, set.Errors)
			}
			if msg := set.Errors[0].Error(); !strings.Contains(msg, "r.lua") || !strings.Contains(msg, "loading the file took longer than 50ms") {
				t.Errorf("error %q; want the file and the load timeout", msg)
			}
		})
	}
}
