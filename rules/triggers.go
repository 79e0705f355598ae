package rules

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/alexarules/alexarules/engine"
	"github.com/alexarules/alexarules/engine/schedule"
	"github.com/alexarules/alexarules/scripting"
	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/pm"
)

// optKind is how a trigger option is checked.
type optKind int

const (
	optString optKind = iota
	optNumber
	optDuration
	optEnum
	optTable
	optPattern
	optZone
	optMissed
	optScalar // a string, number or boolean, kept as text
	optBool
)

type optSpec struct {
	kind   optKind
	values []string // optEnum
}

// ctorSpec describes one trigger constructor of RULES.md §2.
type ctorSpec struct {
	name string // as written in Lua: "cron", "alexa.alarm"
	kind string // engine event kind
	main bool   // takes a main string argument first
	opts map[string]optSpec
	// required options
	required []string
	// fn is the constructor, made once per load (withFuncs) for every
	// state of the load.
	fn *lua.LFunction
}

// withFuncs makes each constructor's function once, for the load's zone
// and place, as a value libs' states share.
func withFuncs(cat []ctorSpec, loc *time.Location, place *schedule.Place, libs *scripting.LibCache) []ctorSpec {
	for i := range cat {
		cat[i].fn = libs.Func(ctorFunc(&cat[i], loc, place))
	}
	return cat
}

// mediaStates are alexa.media's state values: the player entered one of
// the first three, or anything changed.
var mediaStates = []string{"PLAYING", "PAUSED", "IDLE", "changed"}

var notificationStates = []string{"ringing", "snoozed", "dismissed", "created", "changed", "deleted"}

// Attributes a reading trigger may watch (RULES.md §5).
var readingAttrs = []string{"power", "brightness", "color", "color_temperature", "volume", "temperature",
	"thermostat_mode", "target_setpoint", "lower_setpoint", "upper_setpoint", "connectivity"}

func triggerCatalogue() []ctorSpec {
	id := optSpec{kind: optString}
	sched := map[string]optSpec{"id": id, "tz": {kind: optZone}, "missed": {kind: optMissed}}
	notif := func(states ...string) map[string]optSpec {
		return map[string]optSpec{"id": id, "device": {kind: optString}, "label": {kind: optString},
			"state": {kind: optEnum, values: states}}
	}
	return []ctorSpec{
		{name: "cron", kind: engine.KindSchedule, main: true, opts: sched},
		{name: "schedule", kind: engine.KindSchedule, main: true, opts: sched},
		{name: "event", kind: engine.KindCustom, main: true, opts: map[string]optSpec{"id": id, "match": {kind: optTable}}},
		{name: "startup", kind: engine.KindStartup, opts: map[string]optSpec{"id": id}},
		{name: "alexa.alarm", kind: engine.KindAlarm, opts: notif(notificationStates...)},
		{name: "alexa.timer", kind: engine.KindTimer, opts: notif(append(notificationStates, "paused")...)},
		{name: "alexa.reminder", kind: engine.KindReminder, opts: notif(notificationStates...)},
		{name: "alexa.list", kind: engine.KindList, opts: map[string]optSpec{"id": id, "list": {kind: optString},
			"op":   {kind: optEnum, values: []string{"added", "updated", "checked", "removed"}},
			"item": {kind: optString}, "pattern": {kind: optPattern}}},
		{name: "alexa.volume", kind: engine.KindVolume, opts: map[string]optSpec{"id": id, "device": {kind: optString},
			"above": {kind: optNumber}, "below": {kind: optNumber}}},
		{name: "reading", kind: engine.KindReading, required: []string{"device", "attr"},
			opts: map[string]optSpec{"id": id, "device": {kind: optString}, "attr": {kind: optEnum, values: readingAttrs},
				"above": {kind: optNumber}, "below": {kind: optNumber}, "equals": {kind: optScalar},
				"from": {kind: optScalar}, "to": {kind: optScalar}, "hold": {kind: optDuration}, "rearm": {kind: optNumber}}},
		{name: "alexa.voice", kind: engine.KindVoice, opts: map[string]optSpec{"id": id, "echo": {kind: optString},
			"match": {kind: optString}, "pattern": {kind: optPattern}}},
		{name: "alexa.dnd", kind: engine.KindDND, opts: map[string]optSpec{"id": id, "echo": {kind: optString}, "to": {kind: optBool}}},
		{name: "alexa.media", kind: engine.KindMedia, opts: map[string]optSpec{"id": id, "echo": {kind: optString},
			"state": {kind: optEnum, values: mediaStates}}},
		{name: "reachable", kind: engine.KindReachability, required: []string{"device"},
			opts: map[string]optSpec{"id": id, "device": {kind: optString}, "hold": {kind: optDuration}}},
		{name: "unreachable", kind: engine.KindReachability, required: []string{"device"},
			opts: map[string]optSpec{"id": id, "device": {kind: optString}, "hold": {kind: optDuration}}},
	}
}

// TriggerDef is a validated trigger as written in a rule file.
type TriggerDef struct {
	Ctor string // constructor name
	Kind string
	Main string         // cron spec, schedule spec or event name
	Opts map[string]any // validated option values
	Line int

	// Schedule triggers only.
	Spec   schedule.Spec
	Missed schedule.Missed

	pattern string
}

// ID returns the trigger's id option.
func (t *TriggerDef) ID() string { return t.opt("id") }

// opt returns the string option k, or "".
func (t *TriggerDef) opt(k string) string { s, _ := t.Opts[k].(string); return s }

// String renders the trigger as the admin API shows it.
func (t *TriggerDef) String() string {
	var b strings.Builder
	b.WriteString(t.Ctor)
	if t.Main != "" {
		fmt.Fprintf(&b, " %q", t.Main)
	}
	if len(t.Opts) > 0 {
		keys := make([]string, 0, len(t.Opts))
		for k := range t.Opts {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString(" {")
		for i, k := range keys {
			if i > 0 {
				b.WriteString(",")
			}
			v := t.Opts[k]
			if m, ok := v.(map[string]any); ok {
				j, _ := json.Marshal(m)
				v = string(j)
			}
			fmt.Fprintf(&b, " %s=%v", k, v)
		}
		b.WriteString(" }")
	}
	return b.String()
}

const triggerTypeName = "alexarules.trigger"

// installTriggers defines every trigger constructor in L: `cron`,
// `schedule`, `event`, `startup`, `reading`, `reachable`, `unreachable` as
// globals and the `alexa.*` ones in the `alexa` table.
// The catalogue is built once per Load and shared by every state: building
// it per state cost about 12 KB of maps for each rule.
func installTriggers(L *lua.LState, catalogue []ctorSpec, fns *stateFuncs) {
	// Sized tables: L.NewTable (and NewTypeMetatable) reserve 32 array
	// and 32 hash slots, and every rule state has these.
	mt := L.CreateTable(0, 1)
	L.SetField(L.Get(lua.RegistryIndex), triggerTypeName, mt) // what NewTypeMetatable finds
	mt.RawSetString("__tostring", fns.triggerString)
	alexa := L.CreateTable(0, 8) // the trigger constructors, echo, remind
	for i := range catalogue {
		spec := &catalogue[i]
		fn := spec.fn
		if name, ok := strings.CutPrefix(spec.name, "alexa."); ok {
			L.SetField(alexa, name, fn)
		} else {
			L.SetGlobal(spec.name, fn)
		}
	}
	L.SetGlobal("alexa", alexa)
}

func triggerString(L *lua.LState) int {
	L.Push(lua.LString(checkTrigger(L, 1).String()))
	return 1
}

func checkTrigger(L *lua.LState, n int) *TriggerDef {
	ud := L.CheckUserData(n)
	t, ok := ud.Value.(*TriggerDef)
	if !ok {
		L.ArgError(n, "trigger expected")
	}
	return t
}

// asTrigger returns the trigger a Lua value holds, if it is one.
func asTrigger(v lua.LValue) (*TriggerDef, bool) {
	ud, ok := v.(*lua.LUserData)
	if !ok {
		return nil, false
	}
	t, ok := ud.Value.(*TriggerDef)
	return t, ok
}

func ctorFunc(spec *ctorSpec, loc *time.Location, place *schedule.Place) lua.LGFunction {
	return func(L *lua.LState) int {
		t := &TriggerDef{Ctor: spec.name, Kind: spec.kind, Opts: map[string]any{}, Line: callerLine(L)}
		optArg := 1
		if spec.main {
			t.Main = L.CheckString(1)
			optArg = 2
		}
		var opts *lua.LTable
		switch v := L.Get(optArg).(type) {
		case *lua.LNilType:
		case *lua.LTable:
			opts = v
		default:
			L.ArgError(optArg, "options table expected, got "+v.Type().String())
		}
		if opts != nil {
			if err := t.setOptions(spec, opts); err != nil {
				L.RaiseError("%s: %s", spec.name, err.Error())
			}
		}
		for _, r := range spec.required {
			if _, ok := t.Opts[r]; !ok {
				L.RaiseError("%s: option %q is required", spec.name, r)
			}
		}
		if err := t.finish(loc, place); err != nil {
			L.RaiseError("%s: %s", spec.name, err.Error())
		}
		ud := L.NewUserData()
		ud.Value = t
		L.SetMetatable(ud, L.GetTypeMetatable(triggerTypeName))
		L.Push(ud)
		return 1
	}
}

func (t *TriggerDef) setOptions(spec *ctorSpec, opts *lua.LTable) error {
	known := make([]string, 0, len(spec.opts))
	for k := range spec.opts {
		known = append(known, k)
	}
	var err error
	opts.ForEach(func(k, v lua.LValue) {
		if err != nil {
			return
		}
		name, ok := k.(lua.LString)
		if !ok {
			err = fmt.Errorf("option keys must be names, got %s", k.Type())
			return
		}
		os, ok := spec.opts[string(name)]
		if !ok {
			err = fmt.Errorf("unknown option %q%s", string(name), didYouMean(string(name), known))
			return
		}
		var val any
		val, err = os.check(v)
		if err != nil {
			err = fmt.Errorf("option %q: %w", string(name), err)
			return
		}
		t.Opts[string(name)] = val
	})
	return err
}

func (o optSpec) check(v lua.LValue) (any, error) {
	switch o.kind {
	case optString, optZone, optMissed, optPattern:
		s, ok := v.(lua.LString)
		if !ok {
			return nil, fmt.Errorf("string expected, got %s", v.Type())
		}
		return string(s), nil
	case optScalar:
		switch x := v.(type) {
		case lua.LString:
			return string(x), nil
		case lua.LNumber:
			return strconv.FormatFloat(float64(x), 'f', -1, 64), nil
		case lua.LBool:
			return strconv.FormatBool(bool(x)), nil
		}
		return nil, fmt.Errorf("a string, number or boolean expected, got %s", v.Type())
	case optBool:
		b, ok := v.(lua.LBool)
		if !ok {
			return nil, fmt.Errorf("true or false expected, got %s", v.Type())
		}
		return bool(b), nil
	case optNumber:
		n, ok := v.(lua.LNumber)
		if !ok {
			return nil, fmt.Errorf("number expected, got %s", v.Type())
		}
		return float64(n), nil
	case optDuration:
		d, err := scripting.ParseDuration(v)
		if err != nil {
			return nil, err
		}
		return d, nil
	case optEnum:
		s, ok := v.(lua.LString)
		if !ok {
			return nil, fmt.Errorf("string expected, got %s", v.Type())
		}
		for _, x := range o.values {
			if string(s) == x {
				return x, nil
			}
		}
		return nil, fmt.Errorf("unknown value %q%s", string(s), didYouMean(string(s), o.values))
	case optTable:
		if _, ok := v.(*lua.LTable); !ok {
			return nil, fmt.Errorf("table expected, got %s", v.Type())
		}
		val, err := scripting.FromLua(v)
		if err != nil {
			return nil, err
		}
		return val, nil
	}
	return nil, fmt.Errorf("unchecked option kind %d", o.kind)
}

// finish checks what needs several options together or a parser.
func (t *TriggerDef) finish(loc *time.Location, place *schedule.Place) error {
	switch t.Ctor {
	case "cron", "schedule":
		if tz, ok := t.Opts["tz"].(string); ok {
			l, err := time.LoadLocation(tz)
			if err != nil {
				return fmt.Errorf("option \"tz\": unknown time zone %q", tz)
			}
			loc = l
		}
		var err error
		if t.Ctor == "cron" {
			t.Spec, err = schedule.ParseCron(t.Main, loc)
		} else {
			t.Spec, err = schedule.ParseScheduleAt(t.Main, loc, place)
		}
		if err != nil {
			return err
		}
		m, _ := t.Opts["missed"].(string)
		if t.Missed, err = schedule.ParseMissed(m); err != nil {
			return fmt.Errorf("option \"missed\": %w", err)
		}
	case "event":
		if t.Main == "" {
			return fmt.Errorf("event name is empty")
		}
	case "alexa.list":
		return t.textOptions("item")
	case "alexa.voice":
		if err := t.textOptions("match"); err != nil {
			return err
		}
		if m, ok := t.Opts["match"].(string); ok && NormalizeUtterance(m) == "" {
			return fmt.Errorf("option \"match\" is empty")
		}
	case "reading", "reachable", "unreachable", "alexa.volume":
		a, hasA := t.Opts["above"].(float64)
		b, hasB := t.Opts["below"].(float64)
		if hasA && hasB && a >= b {
			// above 26 and below 20 can never both hold: a range must be
			// above < below.
			return fmt.Errorf("options \"above\" (%g) and \"below\" (%g) leave no matching value", a, b)
		}
		if r, ok := t.Opts["rearm"].(float64); ok {
			switch {
			case hasA && hasB:
				return fmt.Errorf("option \"rearm\" goes with \"above\" or \"below\", not both")
			case hasA && r >= a:
				return fmt.Errorf("option \"rearm\" (%g) must be below \"above\" (%g)", r, a)
			case hasB && r <= b:
				return fmt.Errorf("option \"rearm\" (%g) must be above \"below\" (%g)", r, b)
			case !hasA && !hasB:
				return fmt.Errorf("option \"rearm\" needs \"above\" or \"below\"")
			}
		}
		if t.Ctor == "reading" {
			_, eq := t.Opts["equals"]
			_, to := t.Opts["to"]
			_, from := t.Opts["from"]
			if !hasA && !hasB && !eq && !to && !from {
				return fmt.Errorf("say what to watch for: above, below, equals, from or to")
			}
		}
	}
	return nil
}

// textOptions checks the exact-text option (item, match) and pattern,
// which exclude each other, and keeps the pattern.
func (t *TriggerDef) textOptions(exact string) error {
	_, hasExact := t.Opts[exact]
	p, pattern := t.Opts["pattern"].(string)
	if hasExact && pattern {
		return fmt.Errorf("options %q and \"pattern\" exclude each other", exact)
	}
	if pattern {
		if _, err := pm.Find(p, []byte{}, 0, 1); err != nil {
			return fmt.Errorf("option \"pattern\": bad Lua pattern %q: %v", p, err)
		}
		t.pattern = p
	}
	return nil
}

// engineTrigger turns the trigger into the engine's routing form.
func (t *TriggerDef) engineTrigger() engine.Trigger {
	et := engine.Trigger{Kind: t.Kind, ID: t.ID(), Spec: t.String()}
	switch t.Ctor {
	case "cron", "schedule":
		et.Targeted = true
		return et
	case "event":
		et.Keys = []string{t.Main}
		if m, ok := t.Opts["match"].(map[string]any); ok {
			et.Match = func(ev *engine.Event) bool { return matchData(ev.Data, m) }
		}
		return et
	case "startup":
		return et
	}
	dev := t.opt("device")
	if dev == "" {
		dev = t.opt("echo")
	}
	if dev != "" && dev != "*" {
		et.Keys = []string{dev}
	}
	checks := t.eventChecks()
	switch t.Ctor {
	case "alexa.volume", "reading":
		et.Level, et.Enter, et.Rearm = t.levelFuncs()
		et.Hold, _ = t.Opts["hold"].(time.Duration)
	case "reachable", "unreachable":
		want := t.Ctor == "reachable"
		et.Level = func(ev *engine.Event) bool {
			r, ok := ev.Data["reachable"].(bool)
			return ok && r == want
		}
		et.Hold, _ = t.Opts["hold"].(time.Duration)
	}
	if len(checks) > 0 {
		et.Match = func(ev *engine.Event) bool {
			for _, c := range checks {
				if !c(ev) {
					return false
				}
			}
			return true
		}
	}
	return et
}

// eventChecks are the conditions on an event's data that the trigger's
// options ask for (state, label, list, op, item, pattern, attr).
func (t *TriggerDef) eventChecks() []func(ev *engine.Event) bool {
	var checks []func(ev *engine.Event) bool
	eqFold := func(key string, path ...string) {
		want := t.opt(key)
		if key == "state" && want == "" {
			want = "ringing" // alarms, timers and reminders fire when they ring
		}
		if want != "" {
			checks = append(checks, func(ev *engine.Event) bool {
				got, _ := eventField(ev, path...).(string)
				return strings.EqualFold(got, want)
			})
		}
	}
	switch t.Ctor {
	case "alexa.alarm", "alexa.timer", "alexa.reminder":
		eqFold("state", "state")
		eqFold("label", "notification", "label")
	case "alexa.list":
		eqFold("list", "list", "name")
		eqFold("op", "op")
		eqFold("item", "item", "text")
		if t.pattern != "" {
			checks = append(checks, patternCheck(t.pattern, func(ev *engine.Event) string {
				text, _ := eventField(ev, "item", "text").(string)
				return text
			}))
		}
	case "reading":
		eqFold("attr", "attr")
	case "alexa.voice", "alexa.dnd", "alexa.media":
		checks = append(checks, t.echoChecks()...)
	}
	return checks
}

// patternCheck matches a Lua pattern against the text of an event.
func patternCheck(p string, text func(ev *engine.Event) string) func(ev *engine.Event) bool {
	return func(ev *engine.Event) bool {
		m, err := pm.Find(p, []byte(text(ev)), 0, 1)
		return err == nil && len(m) > 0
	}
}

// eventField is the value at path in the event's data, or nil.
func eventField(ev *engine.Event, path ...string) any {
	var cur any = ev.Data
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
}

// matchData reports whether every key of want equals the event's data
// (numbers compare as numbers, strings exactly, tables recursively).
func matchData(data, want map[string]any) bool {
	for k, w := range want {
		got, ok := data[k]
		if !ok {
			return false
		}
		switch wv := w.(type) {
		case map[string]any:
			gm, ok := got.(map[string]any)
			if !ok || !matchData(gm, wv) {
				return false
			}
		default:
			if fmt.Sprint(got) != fmt.Sprint(w) {
				return false
			}
		}
	}
	return true
}

// levelFuncs builds the matching state of a reading or volume trigger:
// above/below/equals/to hold for the value; from must be the previous value
// when the state is entered; rearm re-arms past the threshold.
func (t *TriggerDef) levelFuncs() (level, enter, rearm func(ev *engine.Event) bool) {
	value := func(ev *engine.Event) (float64, bool) {
		f, ok := ev.Data["value"].(float64)
		return f, ok
	}
	above, hasA := t.Opts["above"].(float64)
	below, hasB := t.Opts["below"].(float64)
	equals, hasEq := t.Opts["equals"].(string)
	to, hasTo := t.Opts["to"].(string)
	from, hasFrom := t.Opts["from"].(string)
	same := func(v any, want string) bool {
		switch x := v.(type) {
		case float64:
			return strconv.FormatFloat(x, 'f', -1, 64) == want
		case bool:
			return strconv.FormatBool(x) == want
		case string:
			return strings.EqualFold(x, want)
		}
		return false
	}
	level = func(ev *engine.Event) bool {
		if hasA || hasB {
			v, ok := value(ev)
			if !ok || (hasA && v <= above) || (hasB && v >= below) {
				return false
			}
		}
		if hasEq && !same(ev.Data["value"], equals) {
			return false
		}
		if hasTo && !same(ev.Data["value"], to) {
			return false
		}
		if hasFrom && !hasTo && same(ev.Data["value"], from) {
			return false // `from` alone: the state is "no longer from"
		}
		return true
	}
	if hasFrom {
		enter = func(ev *engine.Event) bool { return same(ev.Data["previous"], from) }
	}
	if r, ok := t.Opts["rearm"].(float64); ok {
		rearm = func(ev *engine.Event) bool {
			v, ok := value(ev)
			if !ok {
				return false
			}
			if hasA {
				return v < r
			}
			return v > r
		}
	}
	return level, enter, rearm
}
