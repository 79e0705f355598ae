package rules

import (
	"encoding/json"
	"fmt"
	"regexp"
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
	Triggers    []*TriggerDef
	State       json.RawMessage
	Handlers    []string

	table *lua.LTable
}

const defTypeName = "alexarules.rule"

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

var ruleFields = []string{"description", "enabled", "when", "only_if", "unless", "mode", "max", "timeout",
	"state", "run", "handlers", "throttle", "log"}

// FieldError is a load error about one field of one rule; the loader adds
// the field's line.
type FieldError struct {
	Rule  string
	Field string
	Msg   string
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
func installRule(L *lua.LState, file string) {
	mt := L.NewTypeMetatable(defTypeName)
	L.SetField(mt, "__tostring", L.NewFunction(func(L *lua.LState) int {
		ud := L.CheckUserData(1)
		L.Push(lua.LString("rule " + ud.Value.(*Def).ID))
		return 1
	}))
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
			ud := L.NewUserData()
			ud.Value = def
			L.SetMetatable(ud, L.GetTypeMetatable(defTypeName))
			L.Push(ud)
			return 1
		}))
		return 1
	}))
}

// defineRule validates one rule table; it reports the first problem of
// each field, all fields at once.
func defineRule(L *lua.LState, id, file string, line int, tbl *lua.LTable) (*Def, error) {
	d := &Def{ID: id, File: file, Line: line, Enabled: true, Mode: engine.ModeSingle, Max: 10,
		Timeout: 5 * time.Second, table: tbl}
	var errs fieldErrors
	fail := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Rule: id, Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	tbl.ForEach(func(k, v lua.LValue) {
		name, ok := k.(lua.LString)
		if !ok {
			fail("", "fields must be names, got a %s key", k.Type())
			return
		}
		field := string(name)
		switch field {
		case "description":
			if s, ok := v.(lua.LString); ok {
				d.Description = string(s)
			} else {
				fail(field, "string expected, got %s", v.Type())
			}
		case "enabled":
			if b, ok := v.(lua.LBool); ok {
				d.Enabled = bool(b)
			} else {
				fail(field, "boolean expected, got %s", v.Type())
			}
		case "when":
			if ts, err := triggerList(v); err != nil {
				fail(field, "%s", err)
			} else {
				d.Triggers = ts
			}
		case "only_if", "unless":
			if err := checkConditions(L, v); err != nil {
				fail(field, "%s", err)
			}
		case "mode":
			s, ok := v.(lua.LString)
			if !ok {
				fail(field, "string expected, got %s", v.Type())
				return
			}
			m, err := engine.ParseMode(string(s))
			if err != nil {
				fail(field, "unknown mode %q%s", string(s), didYouMean(string(s), []string{"single", "restart", "queued", "parallel"}))
				return
			}
			d.Mode = m
		case "max":
			n, ok := v.(lua.LNumber)
			if !ok || n < 1 || float64(n) != float64(int(n)) {
				fail(field, "positive whole number expected, got %s", lua.LVAsString(v))
				return
			}
			d.Max = int(n)
		case "timeout", "throttle":
			dur, err := scripting.ParseDuration(v)
			if err == nil && dur <= 0 {
				err = fmt.Errorf("must be more than zero")
			}
			if err != nil {
				fail(field, "%s", err)
				return
			}
			if field == "timeout" {
				d.Timeout = dur
			} else {
				d.Throttle = dur
			}
		case "state":
			t, ok := v.(*lua.LTable)
			if !ok {
				fail(field, "table expected, got %s", v.Type())
				return
			}
			val, err := scripting.FromLua(t)
			if err == nil {
				d.State, err = json.Marshal(val)
			}
			if err != nil {
				fail(field, "state defaults must be plain data: %s", err)
			}
		case "run":
			if _, ok := v.(*lua.LFunction); !ok {
				fail(field, "function expected, got %s", v.Type())
			}
		case "handlers":
			t, ok := v.(*lua.LTable)
			if !ok {
				fail(field, "table of functions expected, got %s", v.Type())
				return
			}
			t.ForEach(func(hk, hv lua.LValue) {
				hname, ok := hk.(lua.LString)
				if _, fn := hv.(*lua.LFunction); !ok || !fn {
					fail(field, "handler %s must be a function named by a string key", lua.LVAsString(hk))
					return
				}
				d.Handlers = append(d.Handlers, string(hname))
			})
		case "log":
			s, _ := v.(lua.LString)
			switch string(s) {
			case "debug", "info", "warn", "error":
				d.LogLevel = string(s)
			default:
				fail(field, "log level %q: debug, info, warn or error", lua.LVAsString(v))
			}
		default:
			fail(field, "unknown field%s", didYouMean(field, ruleFields))
		}
	})
	if tbl.RawGetString("when") == lua.LNil {
		fail("when", "required: at least one trigger")
	}
	if tbl.RawGetString("run") == lua.LNil {
		fail("run", "required: function(ctx, ev) ... end")
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return d, nil
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
