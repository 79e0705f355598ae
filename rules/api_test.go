package rules_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/rules"
)

// Each rule field the description names is one the loader accepts, and a
// name it does not is refused: the field list is the loader's.
func TestRuleFieldsAreTheAcceptedOnes(t *testing.T) {
	values := map[string]string{"description": `"d"`, "enabled": "true", "when": `event "x"`, "only_if": "{}",
		"unless": "{}", "mode": `"queued"`, "max": "3", "timeout": `"1s"`, "state": "{}", "run": "function() end",
		"handlers": "{}", "throttle": `"1m"`, "log": `"debug"`,
		"shadow": "true", "key": "function(ev) return ev.name end"}
	for _, f := range rules.RuleFields() {
		v, ok := values[f.Name]
		if !ok {
			t.Errorf("field %q: no sample value in this test; add one", f.Name)
			continue
		}
		src := fmt.Sprintf("return rule \"r\" { when = event \"x\", run = function() end, %s = %s }", f.Name, v)
		if set := load(t, map[string]string{"r.lua": src}); len(set.Errors) > 0 {
			t.Errorf("field %q = %s: %v", f.Name, v, set.Errors)
		}
	}
	set := load(t, map[string]string{"r.lua": `return rule "r" { when = event "x", run = function() end, colour = 1 }`})
	if len(set.Errors) != 1 || !strings.Contains(set.Errors[0].Error(), `field "colour": unknown field`) {
		t.Fatalf("an undescribed field: %v", set.Errors)
	}
}

// Each trigger option the description names is accepted by its
// constructor, and an option it does not name is refused.
func TestTriggerOptionsAreTheAcceptedOnes(t *testing.T) {
	samples := map[string]string{"string": `"Bedroom Echo"`, "number": "5", "duration": `"10m"`, "table": "{ a = 1 }",
		"pattern": `"^milk"`, "zone": `"Europe/Berlin"`, "missed": `"run"`, "scalar": `"ON"`, "boolean": "true"}
	for _, tr := range rules.Triggers() {
		main := ""
		if tr.Main != "" {
			main = map[string]string{"cron": `"@daily", `, "schedule": `"daily 07:00", `, "event": `"x", `}[tr.Name]
		}
		var required strings.Builder
		for _, o := range tr.Options {
			if o.Required {
				required.WriteString(fmt.Sprintf("%s = %s, ", o.Name, sample(o, samples)))
			}
		}
		for _, o := range tr.Options {
			opts := required.String()
			if !o.Required {
				opts += fmt.Sprintf("%s = %s, ", o.Name, sample(o, samples))
			}
			if tr.Name == "reading" && !slices.Contains([]string{"above", "below", "equals", "from", "to"}, o.Name) {
				opts += "equals = 1, " // a reading trigger must say what to watch for
			}
			if o.Name == "rearm" {
				opts += "above = 10, "
			}
			src := fmt.Sprintf("return rule \"r\" { run = function() end, when = %s(%s{ %s }) }", tr.Name, main, opts)
			if set := load(t, map[string]string{"r.lua": src}); len(set.Errors) > 0 {
				t.Errorf("%s option %s: %v\n%s", tr.Name, o.Name, set.Errors, src)
			}
		}
		src := fmt.Sprintf("return rule \"r\" { run = function() end, when = %s(%s{ %s colour = 1 }) }", tr.Name, main, required.String())
		if set := load(t, map[string]string{"r.lua": src}); len(set.Errors) != 1 || !strings.Contains(set.Errors[0].Error(), `unknown option "colour"`) {
			t.Errorf("%s: an undescribed option: %v", tr.Name, set.Errors)
		}
	}
}

func sample(o rules.OptionAPI, samples map[string]string) string {
	if o.Check == "enum" {
		return `"` + o.Values[len(o.Values)-1] + `"`
	}
	return samples[o.Check]
}

// ctx has exactly the fields and functions the description names.
func TestCtxIsAsDescribed(t *testing.T) {
	h := newHarness(t, map[string]string{"r.lua": `return rule "r" { when = event "go", run = function(ctx)
		for _, k in ipairs({ "state", "global", "log" }) do local _ = ctx[k] end -- made on first use
		local keys = {}
		for k in pairs(ctx) do keys[#keys + 1] = k end
		local levels = {}
		for k in pairs(ctx.log) do levels[#levels + 1] = k end
		table.sort(keys); table.sort(levels)
		ctx.log.info("%s|%s", table.concat(keys, ","), table.concat(levels, ","))
	end }`})
	h.emit("go", nil)
	tr := h.waitRuns(1, func(tr engine.Trace) bool { return tr.Rule == "r" })[0]
	if len(tr.Log) != 1 {
		t.Fatalf("trace: %+v", tr)
	}
	values, funcs := rules.CtxFields()
	var want, levels []string
	for _, v := range values {
		want = append(want, v.Name)
	}
	for _, f := range funcs {
		want = append(want, f.Name)
	}
	for _, f := range rules.CtxLog() {
		levels = append(levels, f.Name)
	}
	slices.Sort(want)
	slices.Sort(levels)
	if got := "info: " + strings.Join(want, ",") + "|" + strings.Join(levels, ","); tr.Log[0] != got {
		t.Fatalf("ctx has %q, the description %q", tr.Log[0], got)
	}
}
