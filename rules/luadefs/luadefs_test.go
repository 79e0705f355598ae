package luadefs_test

import (
	"bytes"
	"regexp"
	"slices"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"

	"github.com/alexarules/alexarules/rules"
	"github.com/alexarules/alexarules/rules/luadefs"
	"github.com/alexarules/alexarules/ruletest"
	"github.com/alexarules/alexarules/scripting"
)

// defs is what the generated file declares: each class's members (fields
// and functions, "?" marking optional fields), each table's functions
// (the globals under ""), and the aliases.
type defs struct {
	members map[string][]string
	types   map[string]string // "Class.field" -> its type
	aliases map[string]string
}

var (
	classRe = regexp.MustCompile(`^---@class (\w+)`)
	fieldRe = regexp.MustCompile(`^---@field (\["\w+"\]|\w+\??) (.+?)(?: # .*)?$`)
	funcRe  = regexp.MustCompile(`^function (?:(\w+)[.:])?(\w+)\(`)
	aliasRe = regexp.MustCompile(`^---@alias (\w+) (.+?)(?: # .*)?$`)
)

func parseDefs(t *testing.T, src []byte) defs {
	t.Helper()
	d := defs{members: map[string][]string{}, types: map[string]string{}, aliases: map[string]string{}}
	class := ""
	for line := range strings.SplitSeq(string(src), "\n") {
		if m := classRe.FindStringSubmatch(line); m != nil {
			class = m[1]
			d.members[class] = d.members[class][:0:0]
			continue
		}
		if m := fieldRe.FindStringSubmatch(line); m != nil {
			name := m[1]
			if strings.HasPrefix(name, `["`) { // a keyword: optional when its type is
				name = strings.Trim(name, `[]"`)
				if strings.HasSuffix(m[2], "?") {
					name += "?"
				}
			}
			d.members[class] = append(d.members[class], name)
			d.types[class+"."+strings.TrimSuffix(name, "?")] = m[2]
			continue
		}
		if m := funcRe.FindStringSubmatch(line); m != nil {
			d.members[m[1]] = append(d.members[m[1]], m[2])
			continue
		}
		if m := aliasRe.FindStringSubmatch(line); m != nil {
			d.aliases[m[1]] = m[2]
		}
	}
	for k := range d.members {
		slices.Sort(d.members[k])
	}
	return d
}

func names(fs []scripting.Func) []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		out = append(out, f.Name)
	}
	return out
}

func params(ps []scripting.Param) []string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		n := p.Name
		if p.Optional {
			n += "?"
		}
		out = append(out, n)
	}
	return out
}

// The definitions declare exactly what the loader and the bindings accept:
// every rule field, trigger constructor and option (optional unless
// required, enums with their values), event kind, ctx member, device,
// echo and list method, alexa.* and time.* function and the test API, and
// nothing else.
func TestDefinitionsAreTheLoadersTables(t *testing.T) {
	d := parseDefs(t, luadefs.Generate())
	api := scripting.BoundAPI()
	want := map[string][]string{
		"RuleDef":         params(rules.RuleFields()),
		"Device":          append(names(api.DeviceMethods), "name", "id"),
		"Echo":            append(names(api.EchoMethods), "name", "serial"),
		"AlexaList":       append(names(api.ListMethods), "name"),
		"Echoes":          names(api.EchoesMethods),
		"Routine":         append(names(api.RoutineMethods), "name"),
		"AnnounceOptions": params(api.AnnounceFields),
		"Player":          params(api.PlayerFields),
		"RoutineInfo":     params(api.RoutineFields),
		"LastCalled":      params(api.LastCalledFields),
		"RemindOptions":   params(api.RemindFields),
		"ActionOptions":   params(api.ActionOptions),
		"CtxLog":          names(rules.CtxLog()),
		"time":            names(api.Time),
		"rules":           names(rules.Helpers()),
		"alexa":           names(api.Alexa),
		"":                {"rule", "device", "test"},
	}
	values, funcs := rules.CtxFields()
	want["Ctx"] = append(params(values), names(funcs)...)
	_, methods := ruletest.API()
	want["T"] = names(methods)
	want["TestHousehold"] = params(ruletest.HouseholdFields())
	for _, tr := range rules.Triggers() {
		if name, ok := strings.CutPrefix(tr.Name, "alexa."); ok {
			if !slices.Contains(want["alexa"], name) {
				want["alexa"] = append(want["alexa"], name)
			}
		} else {
			want[""] = append(want[""], tr.Name)
		}
		class := optionsClass(t, d, tr.Name)
		var opts []string
		for _, o := range tr.Options {
			n := o.Name
			if !o.Required {
				n += "?"
			}
			opts = append(opts, n)
			if o.Check == "enum" {
				if got := d.types[class+"."+o.Name]; got != scripting.Literals(o.Values) {
					t.Errorf("%s option %s: type %s, values %v", tr.Name, o.Name, got, o.Values)
				}
			}
		}
		want[class] = opts
	}
	for _, ev := range rules.Events() {
		class := eventClass(t, d, ev.Kind)
		want[class] = append(params(ev.Fields), "kind")
		if got := d.types[class+".kind"]; got != `"`+ev.Kind+`"` {
			t.Errorf("%s: kind %s", class, got)
		}
	}
	for class, w := range want {
		w = slices.Sorted(slices.Values(w))
		if got := d.members[class]; !slices.Equal(got, w) {
			t.Errorf("%q declares %v, the tables have %v", class, got, w)
		}
	}
	if got := d.aliases["DeviceAttr"]; got != scripting.Literals(api.DeviceAttributes) {
		t.Errorf("DeviceAttr = %s, attributes %v", got, api.DeviceAttributes)
	}
	if got := d.aliases["Repeat"]; got != scripting.Literals(api.Repeats) {
		t.Errorf("Repeat = %s, repeats %v", got, api.Repeats)
	}
}

// optionsClass finds the class of a constructor's options by its doc line.
func optionsClass(t *testing.T, d defs, ctor string) string {
	t.Helper()
	for class := range d.members {
		if strings.HasSuffix(class, "Options") && strings.EqualFold(class, strings.NewReplacer(".", "", "_", "").Replace(ctor)+"options") {
			return class
		}
	}
	t.Errorf("no options class for %s", ctor)
	return ctor
}

func eventClass(t *testing.T, d defs, kind string) string {
	t.Helper()
	want := strings.ReplaceAll(kind, ".", "") + "event"
	if kind == "event" {
		want = "customevent"
	}
	for class := range d.members {
		if strings.EqualFold(class, want) {
			return class
		}
	}
	t.Errorf("no event class for kind %s", kind)
	return kind
}

// The file is Lua: it parses, and running it defines every constructor
// and function as a global (so it also works as a stub where LuaLS is not
// used).
func TestDefinitionsAreLua(t *testing.T) {
	src := luadefs.Generate()
	if _, err := parse.Parse(bytes.NewReader(src), luadefs.FileName); err != nil {
		t.Fatalf("parse: %v", err)
	}
	L := lua.NewState()
	defer L.Close()
	if err := L.DoString(string(src)); err != nil {
		t.Fatalf("run: %v", err)
	}
	globals := []string{"rule", "device", "test"}
	for _, tr := range rules.Triggers() {
		globals = append(globals, tr.Name)
	}
	for _, f := range scripting.BoundAPI().Time {
		globals = append(globals, "time."+f.Name)
	}
	for _, name := range globals {
		var v lua.LValue = L.G.Global
		for part := range strings.SplitSeq(name, ".") {
			v = L.GetField(v, part)
		}
		if v.Type() != lua.LTFunction {
			t.Errorf("%s is %s after running the definitions", name, v.Type())
		}
	}
	if !bytes.HasPrefix(src, []byte("---@meta\n")) {
		t.Error("the file does not start with ---@meta")
	}
}

// A keyword field is quoted, and optional through its type.
func TestKeywordFieldsAreQuoted(t *testing.T) {
	src := string(luadefs.Generate())
	for _, want := range []string{`---@field ["in"] Duration? # `, `---@field ["repeat"] Repeat?`} {
		if !strings.Contains(src, want) {
			t.Errorf("no %q in the definitions", want)
		}
	}
	if strings.Contains(src, "---@field in") || strings.Contains(src, "---@field repeat") {
		t.Error("an unquoted keyword field")
	}
}
