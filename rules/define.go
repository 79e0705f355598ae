package rules

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/scripting"
	lua "github.com/yuin/gopher-lua"
)

// Def is a rule as its file defines it, validated. The Lua values (run,
// handlers, conditions) belong to the state that ran the file.
type Def struct {
	ID          string
	File        string
	Line        int
	Description string
	Enabled     bool
	Mode        engine.Mode
	Max         int
	Timeout     time.Duration
	Throttle    time.Duration
	LogLevel    string
	Shadow      bool
	HasKey      bool // a `key` function applies the mode per key
	Triggers    []*TriggerDef
	State       json.RawMessage
	Handlers    []string

	table *lua.LTable
}

const defTypeName = "alexarules.rule"

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

var ruleFields = []string{"description", "enabled", "when", "only_if", "unless", "mode", "max", "timeout",
	"state", "run", "handlers", "throttle", "log", "shadow", "key"}

// FieldError is a load error about one field of one rule; the loader adds
// the field's line.
type FieldError struct {
	Rule  string
	Field string
	Msg   string
	Line  int // of the rule "id" call, for ids the file's text does not show
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("rule %q: %s", e.Rule, e.Msg)
	}
	return fmt.Sprintf("rule %q: field %q: %s", e.Rule, e.Field, e.Msg)
}

// installRule defines `rule "id" { ... }` in L. Each call validates the
// table and returns a rule value; field errors are raised as a Lua error
// carrying a *FieldError so the loader can find the field's line.
func installRule(L *lua.LState, file string, fns *stateFuncs) {
	installRuleType(L, fns)
	L.SetGlobal("rule", L.NewFunction(func(L *lua.LState) int {
		id := L.CheckString(1)
		line := callerLine(L)
		if !idPattern.MatchString(id) {
			L.ArgError(1, fmt.Sprintf("rule id %q: use lower-case letters, digits and '-', starting with a letter or digit", id))
		}
		L.Push(L.NewFunction(func(L *lua.LState) int {
			tbl := L.CheckTable(1)
			def, err := defineRule(L, id, file, line, tbl)
			if err != nil {
				ud := L.NewUserData()
				ud.Value = err
				L.Error(ud, 0)
			}
			pushRule(L, def)
			return 1
		}))
		return 1
	}))
}

// installRuleTables defines `rule "id" { ... }` in an instance's state:
// each call returns a rule value with only its id and table. The file ran
// the same compiled code at load, where its rules were validated; the
// instance takes the rest of its rule from there (instance.load), so a
// rebuild does not validate the table again (and its state needs no file).
func installRuleTables(L *lua.LState, fns *stateFuncs) {
	installRuleType(L, fns)
	L.SetGlobal("rule", fns.ruleTable)
}

// ruleTable is `rule` in an instance's state (installRuleTables).
func ruleTable(L *lua.LState) int {
	id := L.CheckString(1)
	L.Push(L.NewFunction(func(L *lua.LState) int {
		pushRule(L, &Def{ID: id, table: L.CheckTable(1)})
		return 1
	}))
	return 1
}

// installRuleType registers the metatable of rule values.
func installRuleType(L *lua.LState, fns *stateFuncs) {
	mt := L.CreateTable(0, 1) // sized: NewTypeMetatable reserves 32+32 slots
	L.SetField(L.Get(lua.RegistryIndex), defTypeName, mt)
	mt.RawSetString("__tostring", fns.ruleString)
}

// ruleString is the __tostring of rule values.
func ruleString(L *lua.LState) int {
	ud := L.CheckUserData(1)
	L.Push(lua.LString("rule " + ud.Value.(*Def).ID))
	return 1
}

// stateFuncs are the function values of the rule API that every state of
// a load holds, made once by Load (scripting.LibCache.Func) instead of
// once per state.
type stateFuncs struct {
	triggerString, ruleString, ruleTable *lua.LFunction
	helpers                              map[string]*lua.LFunction // the rules table's, by name
}

func newStateFuncs(libs *scripting.LibCache) *stateFuncs {
	return &stateFuncs{
		triggerString: libs.Func(triggerString),
		ruleString:    libs.Func(ruleString),
		ruleTable:     libs.Func(ruleTable),
		helpers:       map[string]*lua.LFunction{"each": libs.Func(luaEach), "id": libs.Func(luaID)},
	}
}

// pushRule pushes the rule value of def.
func pushRule(L *lua.LState, def *Def) {
	ud := L.NewUserData()
	ud.Value = def
	L.SetMetatable(ud, L.GetTypeMetatable(defTypeName))
	L.Push(ud)
}

// defineRule validates one rule table; it reports the first problem of
// each field, all fields at once.
func defineRule(L *lua.LState, id, file string, line int, tbl *lua.LTable) (*Def, error) {
	b := &ruleBuilder{L: L, d: &Def{ID: id, File: file, Line: line, Enabled: true, Mode: engine.ModeSingle,
		Max: 10, Timeout: 5 * time.Second, table: tbl}}
	tbl.ForEach(func(k, v lua.LValue) {
		name, ok := k.(lua.LString)
		if !ok {
			b.fail("", "fields must be names, got a %s key", k.Type())
			return
		}
		b.field(string(name), v)
	})
	if tbl.RawGetString("when") == lua.LNil {
		b.fail("when", "required: at least one trigger")
	}
	if tbl.RawGetString("run") == lua.LNil {
		b.fail("run", "required: function(ctx, ev) ... end")
	}
	if len(b.errs) > 0 {
		return nil, b.errs
	}
	return b.d, nil
}

// ruleBuilder fills one rule's Def from its table's fields and collects
// the problems found in them.
type ruleBuilder struct {
	L    *lua.LState
	d    *Def
	errs fieldErrors
}

func (b *ruleBuilder) fail(field, format string, args ...any) {
	b.errs = append(b.errs, &FieldError{Rule: b.d.ID, Field: field, Msg: fmt.Sprintf(format, args...), Line: b.d.Line})
}

// field checks one field of the rule table and sets it on the Def.
func (b *ruleBuilder) field(field string, v lua.LValue) {
	d := b.d
	if !slices.Contains(ruleFields, field) {
		// ruleFields is the one list of fields (the editor definitions
		// are generated from it): a case below that it lacks is refused.
		b.fail(field, "unknown field%s", didYouMean(field, ruleFields))
		return
	}
	switch field {
	case "description":
		if s, ok := v.(lua.LString); ok {
			d.Description = string(s)
		} else {
			b.fail(field, "string expected, got %s", v.Type())
		}
	case "enabled", "shadow":
		b.flag(field, v)
	case "when":
		if ts, err := triggerList(v); err != nil {
			b.fail(field, "%s", err)
		} else {
			d.Triggers = ts
		}
	case "only_if", "unless":
		if err := checkConditions(b.L, v); err != nil {
			b.fail(field, "%s", err)
		}
	case "mode":
		b.mode(v)
	case "max":
		b.max(v)
	case "timeout", "throttle":
		b.duration(field, v)
	case "state":
		b.state(v)
	case "run", "key":
		if _, ok := v.(*lua.LFunction); !ok {
			b.fail(field, "function expected, got %s", v.Type())
		}
		d.HasKey = d.HasKey || field == "key"
	case "handlers":
		b.handlers(v)
	case "log":
		b.logLevel(v)
	default:
		b.fail(field, "unknown field%s", didYouMean(field, ruleFields))
	}
}

// flag sets enabled or shadow.
func (b *ruleBuilder) flag(field string, v lua.LValue) {
	on, ok := v.(lua.LBool)
	if !ok {
		b.fail(field, "boolean expected, got %s", v.Type())
		return
	}
	if field == "enabled" {
		b.d.Enabled = bool(on)
	} else {
		b.d.Shadow = bool(on)
	}
}

func (b *ruleBuilder) mode(v lua.LValue) {
	s, ok := v.(lua.LString)
	if !ok {
		b.fail("mode", "string expected, got %s", v.Type())
		return
	}
	m, err := engine.ParseMode(string(s))
	if err != nil {
		b.fail("mode", "unknown mode %q%s", string(s), didYouMean(string(s), modes))
		return
	}
	b.d.Mode = m
}

func (b *ruleBuilder) max(v lua.LValue) {
	n, ok := v.(lua.LNumber)
	if !ok || n < 1 || float64(n) != float64(int(n)) {
		b.fail("max", "positive whole number expected, got %s", lua.LVAsString(v))
		return
	}
	b.d.Max = int(n)
}

// duration sets timeout or throttle.
func (b *ruleBuilder) duration(field string, v lua.LValue) {
	dur, err := scripting.ParseDuration(v)
	if err == nil && dur <= 0 {
		err = fmt.Errorf("must be more than zero")
	}
	if err != nil {
		b.fail(field, "%s", err)
		return
	}
	if field == "timeout" {
		b.d.Timeout = dur
	} else {
		b.d.Throttle = dur
	}
}

func (b *ruleBuilder) state(v lua.LValue) {
	t, ok := v.(*lua.LTable)
	if !ok {
		b.fail("state", "table expected, got %s", v.Type())
		return
	}
	val, err := scripting.FromLua(t)
	if err == nil {
		b.d.State, err = json.Marshal(val)
	}
	if err != nil {
		b.fail("state", "state defaults must be plain data: %s", err)
	}
}

func (b *ruleBuilder) handlers(v lua.LValue) {
	t, ok := v.(*lua.LTable)
	if !ok {
		b.fail("handlers", "table of functions expected, got %s", v.Type())
		return
	}
	t.ForEach(func(hk, hv lua.LValue) {
		hname, ok := hk.(lua.LString)
		if _, fn := hv.(*lua.LFunction); !ok || !fn {
			b.fail("handlers", "handler %s must be a function named by a string key", lua.LVAsString(hk))
			return
		}
		if strings.HasPrefix(string(hname), "@") { // the engine's own (engine.RevertHandler)
			b.fail("handlers", "handler names must not start with '@', got %q", string(hname))
			return
		}
		b.d.Handlers = append(b.d.Handlers, string(hname))
	})
}

func (b *ruleBuilder) logLevel(v lua.LValue) {
	s, _ := v.(lua.LString)
	if !slices.Contains(logLevels, string(s)) {
		b.fail("log", "log level %q: debug, info, warn or error", lua.LVAsString(v))
		return
	}
	b.d.LogLevel = string(s)
}

type fieldErrors []*FieldError

func (fe fieldErrors) Error() string {
	msgs := make([]string, len(fe))
	for i, e := range fe {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "; ")
}

func triggerList(v lua.LValue) ([]*TriggerDef, error) {
	if t, ok := asTrigger(v); ok {
		return []*TriggerDef{t}, nil
	}
	tbl, ok := v.(*lua.LTable)
	if !ok {
		return nil, fmt.Errorf("a trigger or a list of triggers expected, got %s", v.Type())
	}
	n := tbl.Len()
	if n == 0 {
		return nil, fmt.Errorf("a trigger or a list of triggers expected, got an empty table")
	}
	out := make([]*TriggerDef, 0, n)
	for i := 1; i <= n; i++ {
		t, ok := asTrigger(tbl.RawGetInt(i))
		if !ok {
			return nil, fmt.Errorf("item %d: a trigger expected (cron, schedule, event, alexa.alarm, ...), got %s", i, tbl.RawGetInt(i).Type())
		}
		out = append(out, t)
	}
	return out, nil
}

// checkConditions accepts a condition (time.between), a function, or a
// list of them.
func checkConditions(L *lua.LState, v lua.LValue) error {
	one := func(x lua.LValue) bool {
		if _, ok := x.(*lua.LFunction); ok {
			return true
		}
		_, isCond := scripting.EvalCondition(L, x)
		return isCond
	}
	if one(v) {
		return nil
	}
	tbl, ok := v.(*lua.LTable)
	if !ok {
		return fmt.Errorf("a condition (e.g. time.between), a function or a list of them expected, got %s", v.Type())
	}
	for i := 1; i <= tbl.Len(); i++ {
		if !one(tbl.RawGetInt(i)) {
			return fmt.Errorf("item %d: a condition or a function expected, got %s", i, tbl.RawGetInt(i).Type())
		}
	}
	return nil
}

// callerLine is the line of the Lua code calling the current Go function.
func callerLine(L *lua.LState) int {
	w := strings.TrimSuffix(L.Where(1), ":")
	i := strings.LastIndexByte(w, ':')
	if i < 0 {
		return 0
	}
	n, _ := strconv.Atoi(w[i+1:])
	return n
}
