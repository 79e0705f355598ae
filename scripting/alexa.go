package scripting

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/alexarules/alexarules/engine"
)

// Household is what the alexa.* API needs from the Alexa side: Echo
// devices, their alarms as the notification tracker knows them, reminders
// and lists. Errors that mean "no such Echo / list / item" have a method
// NotFound() bool returning true and are raised as the rule's mistake;
// other errors, and error answers described as a DeviceFailure with an
// HTTP status (also a 404), are remote failures, returned as nil, err.
type Household interface {
	ResolveEcho(ctx context.Context, nameOrSerial string) (Echo, error)
	SetNotificationVolume(ctx context.Context, echo Echo, volume int) error
	// Alarms lists the Echo's alarms with their next ring (zero when it will
	// not ring), without a request.
	Alarms(echo Echo) []Alarm
	Remind(ctx context.Context, r Reminder) (id string, err error)
	ListItems(ctx context.Context, list string) ([]ListItem, error)
	AddListItem(ctx context.Context, list, text string) (ListItem, error)
	CheckListItem(ctx context.Context, list, textOrID string) error
	RemoveListItem(ctx context.Context, list, textOrID string) error

	// Echo voice, routines, Do Not Disturb and media (echo.go).

	// Perform has the targets do a in one request (one announcement to
	// several Echos); a speaker group stands for its members.
	Perform(ctx context.Context, targets []Echo, a EchoAction) error
	Routines(ctx context.Context) ([]Routine, error)
	// RunRoutine runs the routine named name (or having it as an
	// utterance) on the Echo on; nil: the default Echo.
	RunRoutine(ctx context.Context, name string, on *Echo) error
	// DND is the Echo's Do Not Disturb as last seen, without a request.
	DND(echo Echo) (on, known bool)
	// SetDND turns Do Not Disturb on or off; d > 0 turns it on for d.
	SetDND(ctx context.Context, echo Echo, on bool, d time.Duration) error
	// Player is what the Echo plays; nil when it plays nothing.
	Player(ctx context.Context, echo Echo) (*Player, error)
	// PlayerCommand sends play, pause, next, previous, shuffle or loop
	// (on says which for the last two).
	PlayerCommand(ctx context.Context, echo Echo, command string, on bool) error
	// LastCalled is the latest utterance the voice history showed.
	LastCalled() (Utterance, bool)
}

// Echo is an Echo device as rules see it.
type Echo struct{ Serial, Name string }

// Alarm is an alarm and its next ring.
type Alarm struct {
	ID, Label string
	Next      time.Time // zero: it will not ring
	Recurring bool
}

// Reminder is what alexa.remind asks for: At, or Clock ("HH:MM", the next
// occurrence in the Echo's time zone).
type Reminder struct {
	Echo   Echo
	Text   string
	At     time.Time
	Clock  string
	Repeat string // "", daily, weekdays, weekends, mon..sun
}

// ListItem is an item of an Alexa list.
type ListItem struct {
	ID, Text  string
	Completed bool
}

const (
	echoType    = "scripting.echo"
	echoesType  = "scripting.echoes"
	listType    = "scripting.list"
	routineType = "scripting.routine"
)

var repeats = []string{"daily", "weekdays", "weekends", "mon", "tue", "wed", "thu", "fri", "sat", "sun"}

// remindFields are the fields of alexa.remind's table.
var remindFields = []string{"device", "text", "at", "in", "repeat"}

// OpenAlexa adds alexa.echo, alexa.echoes, alexa.remind, alexa.list,
// alexa.routines, alexa.routine and alexa.last_called (RULES.md §4) to
// the global `alexa` table (creating it if needed; the trigger
// constructors live there too). hh may be nil when no account is
// configured: the functions then say so when used. As with device(),
// nothing is sent while a file loads, and a dry run records without
// sending.
//
// Lua API:
//
//	alexa.echo(name_or_serial | ev.device) -> echo
//	echo.name, echo.serial
//	echo:set_notification_volume(0..100) -> true | nil, err
//	echo:alarms() -> { {id=, label=, time=, recurring=}, ... }
//	echo:next_alarm() -> nil | {id=, label=, time=, recurring=}
//	echo:speak(text), echo:announce(text [, {title=, volume=}]),
//	echo:ssml(ssml), echo:sound(id), echo:command(text),
//	echo:volume(0..100), echo:stop() -> true | nil, err
//	echo:dnd(true | false | {duration=}) -> true | nil, err
//	echo:dnd() -> true | false | nil (not known)
//	echo:player() -> nil | {state=, title=, artist=, ...} | nil, err
//	echo:play(), :pause(), :next(), :previous(), :shuffle(bool),
//	:loop(bool) -> true | nil, err
//	alexa.echoes{ name, ... } -> echoes with speak, announce, ssml, sound,
//	command, volume and stop, each one request to all of them
//	alexa.routines() -> { {id=, name=, utterances=}, ... } | nil, err
//	alexa.routine(name):run([{on=echo}]) -> true | nil, err
//	alexa.last_called() -> nil | {device={name=, serial=}, text=, time=}
//	alexa.remind{ device=, text=, at= | ["in"]=, ["repeat"]= } -> id | nil, err
//	alexa.list(name) -> list
//	list:items() -> { {id=, text=, completed=}, ... } | nil, err
//	list:add(text) -> id | nil, err
//	list:check(text_or_id), list:remove(text_or_id) -> true | nil, err
func OpenAlexa(L *lua.LState, run RunContext, hh Household, clock engine.Clock) {
	a := &alexaLib{run: run, hh: hh, clock: clock}
	tbl, ok := L.GetGlobal("alexa").(*lua.LTable)
	if !ok {
		tbl = L.CreateTable(0, 7)
		L.SetGlobal("alexa", tbl)
	}
	tbl.RawSetString("echo", L.NewFunction(a.echo))
	tbl.RawSetString("echoes", L.NewFunction(a.echoes))
	tbl.RawSetString("remind", L.NewFunction(a.remind))
	tbl.RawSetString("routines", L.NewFunction(a.routines))
	tbl.RawSetString("routine", L.NewFunction(a.routine))
	tbl.RawSetString("last_called", L.NewFunction(a.lastCalled))
	// alexa.list is both the trigger constructor (alexa.list { ... }) and
	// the list API (alexa.list("Shopping")): a name means the API.
	trigger := tbl.RawGetString("list")
	tbl.RawSetString("list", L.NewFunction(func(L *lua.LState) int {
		if _, isName := L.Get(1).(lua.LString); isName || trigger == lua.LNil {
			return a.list(L)
		}
		L.Insert(trigger, 1)
		L.Call(L.GetTop()-1, 1)
		return 1
	}))

}

// handleType makes, on first use, the metatable and methods of a kind
// of handle (echo, echoes, list, routine): every rule's state has this
// API and few rules use it.
func (a *alexaLib) handleType(L *lua.LState, typ string) *lua.LTable {
	mt := typeMetatable(L, typ, 2) // the registered one after the first call
	if mt.RawGetString("__index") != lua.LNil {
		return mt
	}
	k := kindOf(typ)
	mt.RawSetString("__index", L.NewFunction(k.index(a)))
	mt.RawSetString("__metatable", lua.LString(k.name))
	if a.methods == nil {
		a.methods = map[string]map[string]*lua.LFunction{}
	}
	a.methods[typ] = make(map[string]*lua.LFunction, len(k.methods))
	for name, mk := range k.methods {
		a.methods[typ][name] = L.NewFunction(mk(a))
	}
	return mt
}

// handleKind is a kind of handle the alexa API hands out: the name
// getmetatable and messages give it, its __index and its methods.
type handleKind struct {
	name    string
	index   func(a *alexaLib) lua.LGFunction
	methods map[string]func(a *alexaLib) lua.LGFunction
}

func kindOf(typ string) handleKind {
	switch typ {
	case echoType:
		return handleKind{"echo", func(a *alexaLib) lua.LGFunction { return a.echoIndex }, echoMethods}
	case echoesType:
		return handleKind{"echoes", func(a *alexaLib) lua.LGFunction { return a.echoesIndex }, echoesMethods}
	case routineType:
		return handleKind{"routine", func(a *alexaLib) lua.LGFunction { return a.nameIndex(routineType) }, routineMethods}
	}
	return handleKind{"list", func(a *alexaLib) lua.LGFunction { return a.nameIndex(listType) }, listMethods}
}

// method pushes the handle kind's method key, or raises naming the
// handle's fields and methods.
func (a *alexaLib) method(L *lua.LState, typ, key string, fields ...string) int {
	if fn, ok := a.methods[typ][key]; ok {
		L.Push(fn)
		return 1
	}
	k := kindOf(typ)
	names := slices.Concat(fields, slices.Sorted(maps.Keys(k.methods)))
	L.RaiseError("%s has no field %s (it has %s)", k.name, key, strings.Join(names, ", "))
	return 0
}

// echoMethods and listMethods are the methods of echo and list handles
// (the editor definitions list them from here, too); echo.go has the
// others.
var (
	echoMethods = union(performMethods, playerMethods, map[string]func(a *alexaLib) lua.LGFunction{
		"set_notification_volume": func(a *alexaLib) lua.LGFunction { return a.setNotificationVolume },
		"alarms":                  func(a *alexaLib) lua.LGFunction { return a.alarms },
		"next_alarm":              func(a *alexaLib) lua.LGFunction { return a.nextAlarm },
		"dnd":                     func(a *alexaLib) lua.LGFunction { return a.dnd },
		"player":                  func(a *alexaLib) lua.LGFunction { return a.player },
	})
	listMethods = map[string]func(a *alexaLib) lua.LGFunction{
		"items":  func(a *alexaLib) lua.LGFunction { return a.items },
		"add":    func(a *alexaLib) lua.LGFunction { return a.listChange("add") },
		"check":  func(a *alexaLib) lua.LGFunction { return a.listChange("check") },
		"remove": func(a *alexaLib) lua.LGFunction { return a.listChange("remove") },
	}
)

type alexaLib struct {
	run     RunContext
	hh      Household
	clock   engine.Clock
	methods map[string]map[string]*lua.LFunction // by handle type, made on first use
}

type echoHandle struct {
	query    string
	echo     Echo
	resolved bool
}

type listHandle struct{ name string }

func (a *alexaLib) inRun(L *lua.LState) bool { return a.run != nil && L.Context() != nil }

func (a *alexaLib) mustRun(L *lua.LState) {
	if !a.inRun(L) {
		L.RaiseError("alexa actions can only run inside a rule run")
	}
	if a.hh == nil {
		L.RaiseError("alexa: no Alexa account is configured")
	}
}

// raiseNotFound raises the rule's mistakes (an unknown Echo, list or
// routine) and returns every other error. An error answer described as
// a failure with its HTTP status (Amazon's 404 to an Echo action) is a
// remote failure, not the rule's mistake.
func raiseNotFound(L *lua.LState, err error) error {
	if err == nil {
		return nil
	}
	if nf, ok := errors.AsType[interface {
		error
		NotFound() bool
	}](err); ok && nf.NotFound() && !isAnswer(err) {
		L.RaiseError("%s", err.Error())
	}
	return err
}

// isAnswer reports an error that describes an error answer of a remote
// API: a DeviceFailure with an HTTP status.
func isAnswer(err error) bool {
	f, ok := errors.AsType[DeviceFailure](err)
	if !ok {
		return false
	}
	_, status, _ := f.Failure()
	return status != 0
}

func (a *alexaLib) echo(L *lua.LState) int {
	if ud, ok := L.Get(1).(*lua.LUserData); ok {
		if _, isEcho := ud.Value.(*echoHandle); isEcho {
			L.Push(ud)
			return 1
		}
	}
	return a.pushHandle(L, echoType, echoArg(L, 1, "alexa.echo", L.Get(1)))
}

// echoArg is the Echo v names, the user's argument n of call: a name or
// serial, ev.device, or an echo handle.
func echoArg(L *lua.LState, n int, call string, v lua.LValue) *echoHandle {
	if ud, ok := v.(*lua.LUserData); ok {
		if h, ok := ud.Value.(*echoHandle); ok {
			return h
		}
	}
	q := remindDevice(v)
	if q == "" {
		argError(L, n, call, "Echo name or serial number expected, got "+describe(v))
	}
	return &echoHandle{query: q}
}

func (a *alexaLib) resolveEcho(L *lua.LState, h *echoHandle) error {
	if h.resolved {
		return nil
	}
	e, err := a.hh.ResolveEcho(a.run.Context(), h.query)
	if err := raiseNotFound(L, err); err != nil {
		return err
	}
	h.echo, h.resolved = e, true
	return nil
}

func (a *alexaLib) echoIndex(L *lua.LState) int {
	h := L.CheckUserData(1).Value.(*echoHandle)
	key := L.CheckString(2)
	switch key {
	case "name", "serial":
		if a.inRun(L) && a.hh != nil {
			_ = a.resolveEcho(L, h)
		}
		switch {
		case key == "name" && h.resolved:
			L.Push(lua.LString(h.echo.Name))
		case key == "name":
			L.Push(lua.LString(h.query))
		case h.resolved:
			L.Push(lua.LString(h.echo.Serial))
		default:
			L.Push(lua.LNil)
		}
		return 1
	}
	return a.method(L, echoType, key, "name", "serial")
}

func echoSelf(L *lua.LState, call string) *echoHandle {
	if ud, ok := L.Get(1).(*lua.LUserData); ok {
		if h, ok := ud.Value.(*echoHandle); ok {
			return h
		}
	}
	L.RaiseError("%s must be called as a method, echo:%s(...)", call, call)
	return nil
}

// act records an action and pushes its result: true (or okValue), or
// nil, err. In a dry run it records and pushes dryValue without calling do.
func (a *alexaLib) act(L *lua.LState, act engine.Action, okValue, dryValue lua.LValue, do func() (any, error)) int {
	if w := a.run.Withheld(); w != "" {
		act.Result = w
		a.run.Record(act)
		L.Push(dryValue)
		return 1
	}
	result, err := do()
	if okValue == nil && err == nil {
		okValue = ToLua(L, result)
	}
	return finish(L, a.run, act, err, okValue, result)
}

func (a *alexaLib) setNotificationVolume(L *lua.LState) int {
	const call = "set_notification_volume"
	h := echoSelf(L, call)
	a.mustRun(L)
	v := checkRange(L, 1, call, L.Get(2), 0, 100, "", true)
	noMore(L, call, 1)
	err := a.resolveEcho(L, h)
	return a.act(L, engine.Action{Call: call, Device: h.echo.Name, Args: []any{int(v)}}, lua.LTrue, lua.LTrue,
		func() (any, error) {
			if err != nil {
				return nil, err
			}
			return true, a.hh.SetNotificationVolume(a.run.Context(), h.echo, int(v))
		})
}

func alarmTable(L *lua.LState, al Alarm) *lua.LTable {
	t := L.CreateTable(0, 4)
	t.RawSetString("id", lua.LString(al.ID))
	t.RawSetString("label", lua.LString(al.Label))
	if !al.Next.IsZero() {
		t.RawSetString("time", TimeToLua(al.Next))
	}
	t.RawSetString("recurring", lua.LBool(al.Recurring))
	return t
}

func (a *alexaLib) echoAlarms(L *lua.LState, call string) []Alarm {
	h := echoSelf(L, call)
	a.mustRun(L)
	noMore(L, call, 0)
	if err := a.resolveEcho(L, h); err != nil {
		L.RaiseError("%s: %s", call, err.Error())
	}
	return a.hh.Alarms(h.echo)
}

func (a *alexaLib) alarms(L *lua.LState) int {
	list := a.echoAlarms(L, "alarms")
	t := L.CreateTable(len(list), 0)
	for _, al := range list {
		t.Append(alarmTable(L, al))
	}
	L.Push(t)
	return 1
}

func (a *alexaLib) nextAlarm(L *lua.LState) int {
	var next *Alarm
	for _, al := range a.echoAlarms(L, "next_alarm") {
		if !al.Next.IsZero() && (next == nil || al.Next.Before(next.Next)) {
			next = &al
		}
	}
	if next == nil {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(alarmTable(L, *next))
	return 1
}

// remind implements alexa.remind{ device=, text=, at= | ["in"]=, ["repeat"]= }.
func (a *alexaLib) remind(L *lua.LState) int {
	const call = "alexa.remind"
	r, device, at, in := remindOptions(L, call)
	now := a.clock.Now()
	reminderTime(L, call, &r, at, in, now)
	if !r.At.IsZero() && !r.At.After(now) && r.Repeat == "" {
		argError(L, 1, call, "at: the time is in the past")
	}
	a.mustRun(L)
	h := &echoHandle{query: device}
	err := a.resolveEcho(L, h)
	r.Echo = h.echo
	args := map[string]any{"text": r.Text}
	if r.Clock != "" {
		args["at"] = r.Clock
	} else {
		args["at"] = r.At.UTC().Format(time.RFC3339)
	}
	if r.Repeat != "" {
		args["repeat"] = r.Repeat
	}
	return a.act(L, engine.Action{Call: "remind", Device: h.echo.Name, Args: args}, nil, lua.LString("dry-run"),
		func() (any, error) {
			if err != nil {
				return nil, err
			}
			return a.hh.Remind(a.run.Context(), r)
		})
}

// remindOptions reads and checks alexa.remind's table: the reminder's text
// and repeat, the device asked for, and the at and in fields (exactly one
// of them is not nil).
func remindOptions(L *lua.LState, call string) (r Reminder, device string, at, in lua.LValue) {
	opts, ok := L.Get(1).(*lua.LTable)
	if !ok {
		argError(L, 1, call, "table { device=, text=, at= or in=, repeat= } expected, got "+describe(L.Get(1)))
	}
	at, in = lua.LNil, lua.LNil
	var badField string
	// Next hands out the table's own keys; ForEach boxed each one anew.
	for k, v := opts.Next(lua.LNil); k != lua.LNil; k, v = opts.Next(k) {
		switch k.String() {
		case "device":
			device = remindDevice(v)
		case "text":
			r.Text = strings.TrimSpace(lua.LVAsString(v))
		case "at":
			at = v
		case "in":
			in = v
		case "repeat":
			r.Repeat = strings.ToLower(lua.LVAsString(v))
		default:
			badField = k.String()
		}
	}
	switch {
	case badField != "":
		argError(L, 1, call, fmt.Sprintf("unknown field %q (%s)", badField, strings.Join(remindFields, ", ")))
	case device == "":
		argError(L, 1, call, "field device (an Echo's name or serial) is required")
	case r.Text == "":
		argError(L, 1, call, "field text is required")
	case (at == lua.LNil) == (in == lua.LNil):
		argError(L, 1, call, "exactly one of at and in is required")
	case r.Repeat != "" && !slices.Contains(repeats, r.Repeat):
		argError(L, 1, call, fmt.Sprintf("repeat %q: one of %s", r.Repeat, strings.Join(repeats, ", ")))
	}
	return r, device, at, in
}

// remindDevice is the Echo a device field names: a name or serial, or an
// event's device table (ev.device); "" for anything else.
func remindDevice(v lua.LValue) string {
	if s, ok := v.(lua.LString); ok {
		return strings.TrimSpace(string(s))
	}
	t, ok := v.(*lua.LTable)
	if !ok {
		return ""
	}
	if id := lua.LVAsString(t.RawGetString("id")); id != "" {
		return id
	}
	return lua.LVAsString(t.RawGetString("name"))
}

// reminderTime sets r.At or r.Clock from at (epoch seconds or "HH:MM"),
// or from in (a duration from now) when at is nil.
func reminderTime(L *lua.LState, call string, r *Reminder, at, in lua.LValue, now time.Time) {
	switch v := at.(type) {
	case lua.LNumber:
		if math.IsNaN(float64(v)) || float64(v) <= 0 {
			argError(L, 1, call, "at: epoch seconds expected, got "+describe(v))
		}
		r.At = TimeFromLua(v)
	case lua.LString:
		if _, err := ParseClock(string(v)); err != nil {
			argError(L, 1, call, fmt.Sprintf("at: epoch seconds or \"HH:MM\" expected, got %q", string(v)))
		}
		r.Clock = string(v)
	case *lua.LNilType:
		d, err := ParseDuration(in)
		if err != nil || d <= 0 {
			argError(L, 1, call, "in: a duration such as \"90m\" expected, got "+describe(in))
		}
		r.At = now.Add(d)
	default:
		argError(L, 1, call, "at: epoch seconds or \"HH:MM\" expected, got "+describe(at))
	}
}

func (a *alexaLib) list(L *lua.LState) int {
	name := strings.TrimSpace(L.CheckString(1))
	if name == "" {
		argError(L, 1, "alexa.list", "list name expected, got \"\"")
	}
	return a.pushHandle(L, listType, &listHandle{name: name})
}

func (h *listHandle) label() string { return h.name }

// nameIndex is the __index of list and routine handles: their name and
// methods.
func (a *alexaLib) nameIndex(typ string) lua.LGFunction {
	return func(L *lua.LState) int {
		key := L.CheckString(2)
		if h, ok := L.CheckUserData(1).Value.(interface{ label() string }); ok && key == "name" {
			L.Push(lua.LString(h.label()))
			return 1
		}
		return a.method(L, typ, key, "name")
	}
}

// pushHandle pushes a new handle of typ holding v.
func (a *alexaLib) pushHandle(L *lua.LState, typ string, v any) int {
	ud := L.NewUserData()
	ud.Value = v
	L.SetMetatable(ud, a.handleType(L, typ))
	L.Push(ud)
	return 1
}

func listSelf(L *lua.LState, call string) *listHandle {
	if ud, ok := L.Get(1).(*lua.LUserData); ok {
		if h, ok := ud.Value.(*listHandle); ok {
			return h
		}
	}
	L.RaiseError("%s must be called as a method, list:%s(...)", call, call)
	return nil
}

func itemTable(L *lua.LState, it ListItem) *lua.LTable {
	t := L.CreateTable(0, 3)
	t.RawSetString("id", lua.LString(it.ID))
	t.RawSetString("text", lua.LString(it.Text))
	t.RawSetString("completed", lua.LBool(it.Completed))
	return t
}

func (a *alexaLib) items(L *lua.LState) int {
	h := listSelf(L, "items")
	a.mustRun(L)
	noMore(L, "items", 0)
	items, err := a.hh.ListItems(a.run.Context(), h.name)
	if err := raiseNotFound(L, err); err != nil {
		pushFailure(L, err)
		return 2
	}
	t := L.CreateTable(len(items), 0)
	for _, it := range items {
		t.Append(itemTable(L, it))
	}
	L.Push(t)
	return 1
}

func (a *alexaLib) listChange(call string) lua.LGFunction {
	return func(L *lua.LState) int {
		h := listSelf(L, call)
		a.mustRun(L)
		text := strings.TrimSpace(lua.LVAsString(L.Get(2)))
		if _, ok := L.Get(2).(lua.LString); !ok || text == "" {
			argError(L, 1, call, "item text expected, got "+describe(L.Get(2)))
		}
		noMore(L, call, 1)
		var okValue lua.LValue = lua.LTrue
		if call == "add" {
			okValue = nil // the new item's id
		}
		return a.act(L, engine.Action{Call: call, Device: h.name, Args: []any{text}}, okValue, lua.LTrue,
			func() (any, error) {
				var err error
				switch call {
				case "add":
					var it ListItem
					it, err = a.hh.AddListItem(a.run.Context(), h.name, text)
					if raiseNotFound(L, err) == nil {
						return it.ID, nil
					}
				case "check":
					err = a.hh.CheckListItem(a.run.Context(), h.name, text)
				case "remove":
					err = a.hh.RemoveListItem(a.run.Context(), h.name, text)
				}
				if err = raiseNotFound(L, err); err != nil {
					return nil, err
				}
				return true, nil
			})
	}
}
