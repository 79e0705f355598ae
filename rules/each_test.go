package rules_test

import (
	"strings"
	"testing"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/rules"
)

const roomsFile = `local rooms = { "Room 101", { name = "Suite 2B" }, 7, { id = "lobby" } }
return rules.each(rooms, function(room, id)
  if id == "7" then return nil end
  return rule("door-" .. id) {
    when = event("door", { match = { room = id } }),
    state = { n = 0 },
    run = function(ctx, ev) ctx.state.n = ctx.state.n + 1 end,
  }
end)
`

func TestRulesEachMakesARulePerItem(t *testing.T) {
	set := load(t, map[string]string{"rooms.lua": roomsFile})
	if len(set.Errors) > 0 {
		t.Fatal(set.Errors)
	}
	var ids []string
	for _, l := range set.Rules {
		ids = append(ids, l.Def.ID)
	}
	if got := strings.Join(ids, ","); got != "door-room-101,door-suite-2b,door-lobby" {
		t.Fatalf("rules %s", got)
	}

	// Each generated rule runs on its own state: its file runs again and
	// it finds its own table among the others.
	h := newHarness(t, map[string]string{"rooms.lua": roomsFile})
	h.emit("door", map[string]any{"room": "suite-2b"})
	if tr := h.waitRuns(1, ofRule("door-suite-2b"))[0]; tr.Outcome != engine.OutcomeOK {
		t.Fatalf("run %+v", tr)
	}
	if st, _ := h.engine.RuleState("door-suite-2b"); string(st) != `{"n":1}` {
		t.Fatalf("state %s", st)
	}
}

func TestRulesEachErrors(t *testing.T) {
	for _, c := range []struct {
		name, src string
		want      []string
	}{
		{"a field error names the rule call's line", "return rules.each({ \"a\", \"b\" }, function(r, id)\n  return rule(\"x-\" .. id) {\n    when = event \"x\",\n    mode = \"paralel\",\n    run = function() end,\n  }\nend)",
			[]string{"r.lua:2:", `rule "x-a": field "mode"`, `did you mean "parallel"`}},
		{"duplicate ids", "return rules.each({ \"Room 1\", \"room-1\" }, function(r, id)\n  return rule(id) { when = event \"x\", run = function() end }\nend)",
			[]string{"r.lua:2:", `rule "room-1" is already defined at`}},
		{"an item without a name", "return rules.each({ \"a\", { floor = 1 } }, function(r, id)\n  return rule(id) { when = event \"x\", run = function() end }\nend)",
			[]string{"r.lua:1:", "item 2", "name (or id)"}},
		{"a name without a letter", "return rules.each({ \"--\" }, function(r, id) end)",
			[]string{"r.lua:1:", `"--" has no letter or digit`}},
		{"the function returns something else", "return rules.each({ \"a\" }, function(r, id)\n  return 42\nend)",
			[]string{"r.lua:1:", `rules.each: item 1 ("a")`, "got number"}},
		{"an error in the function", "return rules.each({ \"a\" }, function(r, id)\n  error(\"no rooms today\")\nend)",
			[]string{"r.lua:2:", "no rooms today"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			set := load(t, map[string]string{"r.lua": c.src})
			if len(set.Errors) == 0 {
				t.Fatalf("no error; rules %d", len(set.Rules))
			}
			msg := set.Errors[len(set.Errors)-1].Error()
			at := 0
			for _, w := range c.want {
				i := strings.Index(msg[at:], w)
				if i < 0 {
					t.Fatalf("error %q lacks %q (in order)", msg, w)
				}
				at += i + len(w)
			}
		})
	}
}

func TestIDFromName(t *testing.T) {
	for name, want := range map[string]string{"Room 101": "room-101", "  Suite 2B!": "suite-2b", "Küche": "k-che",
		"a--b": "a-b", "7": "7"} {
		if got, err := rules.IDFromName(name); err != nil || got != want {
			t.Errorf("IDFromName(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
	if _, err := rules.IDFromName("!!"); err == nil {
		t.Error("IDFromName(\"!!\") made an id")
	}
}

// rules.each walks the items it was given: a callback appending to the
// list makes no more rules (and no endless loop until the load timeout).
func TestRulesEachWalksTheItemsGiven(t *testing.T) {
	set := load(t, map[string]string{"grow.lua": `local rooms = { "a", "b" }
return rules.each(rooms, function(room, id)
  rooms[#rooms + 1] = room .. "x"
  return rule("r-" .. id) { when = event "go", run = function() end }
end)
`})
	if len(set.Errors) > 0 || len(set.Rules) != 2 {
		t.Fatalf("rules %d, errors %v", len(set.Rules), set.Errors)
	}
}
